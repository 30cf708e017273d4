using System.Text;
using System.Text.Json;
using BatchSync.Model;

namespace BatchSync.Mapping;

/// <summary>What a value is to the request being written, where SubmitJob adds or reads something of its own.</summary>
internal enum ValueRole { None, JobName, JobQueue, Parameters, ContainerOverrides, Environment, EnvironmentItem, EnvironmentName }

/// <summary>Reads a root member that is not the request's, if it is one (the reader is on its name): true when it did.</summary>
internal delegate bool RootMemberReader(ref Utf8JsonReader reader);

/// <summary>
/// Reads a PascalCase JSON value with a Utf8JsonReader, checks it against a Batch model shape and writes its wire form
/// in the same pass: structure members camelCase, map keys and all string values exactly as given. Every problem is
/// collected, not just the first; once there is one, nothing more is written (the output will not be used).
/// </summary>
internal sealed class ShapeWriter
{
    private const int MaxProblems = 20;
    private readonly ReadOnlyMemory<byte> _payload;
    private readonly Utf8JsonWriter _writer;
    private readonly List<InputProblem> _problems;
    // The path to the value being read, as segments spelled out only when a problem is reported, so valid input costs
    // no path strings: a member name, a list index, or a map key as a range of the payload's bytes.
    private readonly List<Segment> _path = [];

    public ShapeWriter(ReadOnlyMemory<byte> payload, Utf8JsonWriter writer, List<InputProblem> problems)
    {
        _payload = payload;
        _writer = writer;
        _problems = problems;
    }


    /// <summary>A job parameter name the caller may not set.</summary>
    public string? ReservedParameter { get; init; }

    /// <summary>An environment entry to add to ContainerOverrides.Environment unless the caller set that name.</summary>
    public KeyValuePair<string, string>? AddedEnvironment { get; init; }

    /// <summary>Reads the root object's members that are not the request's (the caller's own).</summary>
    public RootMemberReader? ReadOwnMember { get; init; }

    public string? JobName { get; private set; }
    public string? JobQueue { get; private set; }

    /// <summary>Where the Parameters object's closing brace is in the output, and whether it is empty, once written.</summary>
    public (int Position, bool Empty)? ParametersEnd { get; private set; }

    /// <summary>Where the ContainerOverrides value lies in the output, once written.</summary>
    public Range? ContainerOverridesOutput { get; private set; }

    private bool _environmentHasAddedName;

    private Utf8JsonWriter? Out => _problems.Count == 0 ? _writer : null;

    public void Report(string path, string message)
    {
        if (_problems.Count < MaxProblems)
        {
            _problems.Add(new InputProblem(path, message));
        }
    }

    private void Report(string message) => Report(Path, message);

    /// <summary>Reads and writes the request object; the reader is on its StartObject.</summary>
    public void WriteRoot(ref Utf8JsonReader reader, Shape shape) => WriteValue(ref reader, shape, ValueRole.None, root: true);

    private void WriteValue(ref Utf8JsonReader reader, Shape shape, ValueRole role, bool root = false)
    {
        var token = reader.TokenType;
        if (token == JsonTokenType.Null)
        {
            Report("must not be null (omit the member instead)");
            return;
        }
        switch (shape.Kind)
        {
            case ShapeKind.Structure:
                if (token != JsonTokenType.StartObject)
                {
                    Mismatch(ref reader, "must be an object");
                    return;
                }
                WriteStructure(ref reader, shape, role, root);
                return;
            case ShapeKind.List:
                if (token != JsonTokenType.StartArray)
                {
                    Mismatch(ref reader, "must be an array");
                    return;
                }
                WriteList(ref reader, shape, role);
                return;
            case ShapeKind.Map:
                if (token != JsonTokenType.StartObject)
                {
                    Mismatch(ref reader, "must be an object of name/value pairs");
                    return;
                }
                WriteMap(ref reader, shape, role);
                return;
            case ShapeKind.String:
                if (token != JsonTokenType.String)
                {
                    Mismatch(ref reader, "must be a string");
                    return;
                }
                CheckString(ref reader, shape, "value");
                switch (role)
                {
                    case ValueRole.JobName:
                        JobName = reader.GetString();
                        break;
                    case ValueRole.JobQueue:
                        JobQueue = reader.GetString();
                        break;
                    case ValueRole.EnvironmentName when AddedEnvironment is { } added && reader.ValueTextEquals(added.Key):
                        _environmentHasAddedName = true;
                        break;
                }
                WriteString(ref reader);
                return;
            case ShapeKind.Boolean:
                if (token is not (JsonTokenType.True or JsonTokenType.False))
                {
                    Mismatch(ref reader, "must be true or false");
                    return;
                }
                Out?.WriteBooleanValue(token == JsonTokenType.True);
                return;
            case ShapeKind.Integer:
            case ShapeKind.Long:
                var isInteger = shape.Kind == ShapeKind.Integer;
                if (token != JsonTokenType.Number || !reader.TryGetInt64(out var whole) || (isInteger && whole is < int.MinValue or > int.MaxValue))
                {
                    Mismatch(ref reader, $"must be a whole number{(isInteger ? " (32-bit)" : "")}");
                    return;
                }
                if (whole < shape.Min || whole > shape.Max)
                {
                    Report($"must be between {shape.Min} and {shape.Max}");
                }
                Out?.WriteNumberValue(whole);
                return;
            case ShapeKind.Double:
            case ShapeKind.Float:
                if (token != JsonTokenType.Number)
                {
                    Mismatch(ref reader, "must be a number");
                    return;
                }
                Out?.WriteNumberValue(reader.GetDouble());
                return;
            default:
                Report($"has a type ({shape.Kind}) BatchSync does not accept");
                reader.Skip();
                return;
        }
    }

    private void WriteStructure(ref Utf8JsonReader reader, Shape shape, ValueRole role, bool root)
    {
        Out?.WriteStartObject();
        var seen = 0UL;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (root && ReadOwnMember?.Invoke(ref reader) == true)
            {
                continue;
            }
            var member = Find(ref reader, shape);
            if (member is null)
            {
                var name = reader.GetString()!;
                _path.Add(Segment.Member(name));
                Report(UnknownMember(name, shape));
                _path.RemoveAt(_path.Count - 1);
                reader.Read();
                reader.Skip();
                continue;
            }
            reader.Read();
            _path.Add(Segment.Member(member.PascalName));
            var bit = 1UL << member.Ordinal;
            if ((seen & bit) != 0)
            {
                Report("is given more than once");
                reader.Skip();
            }
            else
            {
                seen |= bit;
                var memberRole = MemberRole(role, root, member.WireName);
                Out?.WritePropertyName(member.WireText);
                var start = memberRole == ValueRole.ContainerOverrides ? OutputPosition() : 0;
                WriteValue(ref reader, member.Shape, memberRole);
                if (memberRole == ValueRole.ContainerOverrides && Out is not null)
                {
                    ContainerOverridesOutput = start..OutputPosition();
                }
            }
            _path.RemoveAt(_path.Count - 1);
        }
        foreach (var required in shape.RequiredMembers)
        {
            if ((seen & (1UL << required.Ordinal)) == 0)
            {
                _path.Add(Segment.Member(required.PascalName));
                Report("is required");
                _path.RemoveAt(_path.Count - 1);
            }
        }
        if (role == ValueRole.ContainerOverrides && AddedEnvironment is { } environment && !Has(shape, seen, "environment"))
        {
            Out?.WriteStartArray("environment");
            WriteEnvironmentEntry(environment);
            Out?.WriteEndArray();
        }
        Out?.WriteEndObject();
    }

    private static bool Has(Shape shape, ulong seen, string wireName) =>
        shape.MembersByWire.TryGetValue(wireName, out var member) && (seen & (1UL << member.Ordinal)) != 0;

    private static ValueRole MemberRole(ValueRole parent, bool root, string wireName) => (parent, root, wireName) switch
    {
        (_, true, "jobName") => ValueRole.JobName,
        (_, true, "jobQueue") => ValueRole.JobQueue,
        (_, true, "parameters") => ValueRole.Parameters,
        (_, true, "containerOverrides") => ValueRole.ContainerOverrides,
        (ValueRole.ContainerOverrides, _, "environment") => ValueRole.Environment,
        (ValueRole.EnvironmentItem, _, "name") => ValueRole.EnvironmentName,
        _ => ValueRole.None,
    };

    private void WriteList(ref Utf8JsonReader reader, Shape shape, ValueRole role)
    {
        Out?.WriteStartArray();
        var itemRole = role == ValueRole.Environment ? ValueRole.EnvironmentItem : ValueRole.None;
        var count = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            _path.Add(Segment.Item(count++));
            WriteValue(ref reader, shape.MemberShape!, itemRole);
            _path.RemoveAt(_path.Count - 1);
        }
        if (role == ValueRole.Environment && AddedEnvironment is { } environment && !_environmentHasAddedName)
        {
            WriteEnvironmentEntry(environment);
        }
        Out?.WriteEndArray();
        CheckCount(count, shape, "items");
    }

    private void WriteEnvironmentEntry(KeyValuePair<string, string> entry)
    {
        Out?.WriteStartObject();
        Out?.WriteString("name"u8, entry.Key);
        Out?.WriteString("value"u8, entry.Value);
        Out?.WriteEndObject();
    }

    private void WriteMap(ref Utf8JsonReader reader, Shape shape, ValueRole role)
    {
        Out?.WriteStartObject();
        HashSet<ReadOnlyMemory<byte>>? keys = null;
        ReadOnlyMemory<byte> firstKey = default;
        var count = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var key = KeyBytes(ref reader);
            _path.Add(Segment.MapKey(key));
            if (count++ == 0)
            {
                firstKey = key;
            }
            else if (!(keys ??= new HashSet<ReadOnlyMemory<byte>>(ByteRangeComparer.Instance) { firstKey }).Add(key))
            {
                Report("is given more than once");
            }
            if (role == ValueRole.Parameters && ReservedParameter is { } reserved && reader.ValueTextEquals(reserved))
            {
                Report("is reserved for BatchSync's own use");
            }
            CheckString(ref reader, shape.KeyShape!, "key");
            WritePropertyName(ref reader);
            reader.Read();
            WriteValue(ref reader, shape.ValueShape!, ValueRole.None);
            _path.RemoveAt(_path.Count - 1);
        }
        if (role == ValueRole.Parameters && Out is not null)
        {
            ParametersEnd = (OutputPosition(), count == 0);
        }
        Out?.WriteEndObject();
        CheckCount(count, shape, "entries");
    }

    /// <summary>A map key's unescaped UTF-8: a range of the payload itself unless the key was written with escapes.</summary>
    private ReadOnlyMemory<byte> KeyBytes(ref Utf8JsonReader reader) =>
        reader.ValueIsEscaped || reader.HasValueSequence
            ? Encoding.UTF8.GetBytes(reader.GetString()!)
            : _payload.Slice((int)reader.TokenStartIndex + 1, reader.ValueSpan.Length);

    private void WriteString(ref Utf8JsonReader reader)
    {
        if (Out is not { } output)
        {
            return;
        }
        if (reader.ValueIsEscaped || reader.HasValueSequence)
        {
            output.WriteStringValue(reader.GetString());
        }
        else
        {
            output.WriteStringValue(reader.ValueSpan);
        }
    }

    private void WritePropertyName(ref Utf8JsonReader reader)
    {
        if (Out is not { } output)
        {
            return;
        }
        if (reader.ValueIsEscaped || reader.HasValueSequence)
        {
            output.WritePropertyName(reader.GetString()!);
        }
        else
        {
            output.WritePropertyName(reader.ValueSpan);
        }
    }

    private int OutputPosition()
    {
        if (Out is not { } output)
        {
            return 0;
        }
        output.Flush();
        return (int)output.BytesCommitted;
    }

    private static ShapeMember? Find(ref Utf8JsonReader reader, Shape shape)
    {
        if (reader.ValueIsEscaped || reader.HasValueSequence)
        {
            return shape.MembersByPascal.GetValueOrDefault(reader.GetString()!);
        }
        var name = reader.ValueSpan;
        foreach (var member in shape.Members)
        {
            if (name.SequenceEqual(member.PascalUtf8))
            {
                return member;
            }
        }
        return null;
    }

    /// <summary>Reports a value of the wrong JSON type and steps over it.</summary>
    private void Mismatch(ref Utf8JsonReader reader, string rule)
    {
        Report($"{rule}, not {JsonInput.Describe(reader.TokenType)}");
        reader.Skip();
    }

    private void CheckString(ref Utf8JsonReader reader, Shape shape, string what)
    {
        if (shape.Enum is null && shape.Min is null && shape.Max is null)
        {
            return;
        }
        var text = reader.GetString()!;
        if (shape.Enum is { } allowed && !allowed.Contains(text))
        {
            Report($"'{Clip(text)}' is not one of {string.Join(", ", allowed.Order(StringComparer.Ordinal))}");
        }
        if (text.Length < shape.Min)
        {
            Report($"{what} must be at least {shape.Min} characters");
        }
        if (text.Length > shape.Max)
        {
            Report($"{what} must be at most {shape.Max} characters (is {text.Length})");
        }
    }

    private void CheckCount(int count, Shape shape, string what)
    {
        if (count < shape.Min)
        {
            Report($"must have at least {shape.Min} {what}");
        }
        if (count > shape.Max)
        {
            Report($"must have at most {shape.Max} {what} (has {count})");
        }
    }

    private string Path
    {
        get
        {
            var path = new StringBuilder();
            foreach (var segment in _path)
            {
                if (segment.Name is { } name)
                {
                    path.Append('.').Append(name);
                }
                else if (segment.IsKey)
                {
                    path.Append('.').Append(Encoding.UTF8.GetString(segment.Key.Span));
                }
                else
                {
                    path.Append('[').Append(segment.Index).Append(']');
                }
            }
            return path.Length > 0 && path[0] == '.' ? path.ToString(1, path.Length - 1) : path.ToString();
        }
    }

    private static string UnknownMember(string name, Shape shape)
    {
        var suggestion = shape.MembersByPascal.Keys
            .Select(known => (known, distance: Spelling.Distance(name.ToLowerInvariant(), known.ToLowerInvariant())))
            .Where(c => c.distance <= Math.Max(2, name.Length / 4))
            .OrderBy(c => c.distance).ThenBy(c => c.known, StringComparer.Ordinal)
            .Select(c => c.known)
            .FirstOrDefault();
        var known = string.Join(", ", shape.MembersByPascal.Keys.Order(StringComparer.Ordinal));
        return suggestion is null
            ? $"unknown member (expected one of: {known})"
            : $"unknown member (did you mean {suggestion}?)";
    }

    private static string Clip(string text) => text.Length <= 64 ? text : text[..64] + "…";

    /// <summary>A member name, a list index, or a map key.</summary>
    private readonly record struct Segment(string? Name, int Index, ReadOnlyMemory<byte> Key, bool IsKey)
    {
        public static Segment Member(string name) => new(name, 0, default, false);
        public static Segment Item(int index) => new(null, index, default, false);
        public static Segment MapKey(ReadOnlyMemory<byte> key) => new(null, 0, key, true);
    }

    private sealed class ByteRangeComparer : IEqualityComparer<ReadOnlyMemory<byte>>
    {
        public static readonly ByteRangeComparer Instance = new();

        public bool Equals(ReadOnlyMemory<byte> x, ReadOnlyMemory<byte> y) => x.Span.SequenceEqual(y.Span);

        public int GetHashCode(ReadOnlyMemory<byte> bytes)
        {
            var hash = new HashCode();
            hash.AddBytes(bytes.Span);
            return hash.ToHashCode();
        }
    }
}
