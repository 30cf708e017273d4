using BatchSync.Domain;
using System.Text;
using System.Text.Json;
using BatchSync.Model;

namespace BatchSync.Mapping;

/// <summary>
/// Reads a PascalCase JSON value with a Utf8JsonReader, checks it against a Batch model shape and writes its wire form
/// in the same pass: structure members camelCase, map keys and all string values exactly as given. Every problem is
/// collected, not just the first; once there is one, nothing more is written (the output will not be used). It knows
/// nothing of any one request: what a caller adds comes from <typeparamref name="TRules"/>, a struct so that the JIT
/// makes a walker for it whose hook calls are direct (and inlined).
/// </summary>
internal sealed partial class ShapeWalker<TRules> where TRules : struct, IWalkRules
{
    private const int MaxProblems = 20;
    private readonly ReadOnlyMemory<byte> _payload;
    private readonly Utf8JsonWriter _writer;
    private readonly List<InputProblem> _problems;
    // The path to the value being read, as segments spelled out only when a problem is reported, so valid input costs
    // no path strings: a member name, a list index, or a map key as a range of the payload's bytes.
    private readonly List<Segment> _path = [];
    // Not readonly: the hooks change the rules' own fields in place.
    private TRules _rules;

    public ShapeWalker(ReadOnlyMemory<byte> payload, Utf8JsonWriter writer, List<InputProblem> problems, TRules rules)
    {
        _payload = payload;
        _writer = writer;
        _problems = problems;
        _rules = rules;
    }

    /// <summary>The rules, with what they found, to read after the walk (a reference: no copy).</summary>
    public ref TRules Rules => ref _rules;

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
    public void WriteRoot(ref Utf8JsonReader reader, Shape shape) => WriteValue(ref reader, shape, _rules.RootContext, root: true);

    private void WriteValue(ref Utf8JsonReader reader, Shape shape, int context, bool root = false)
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
                WriteStructure(ref reader, shape, context, root);
                return;
            case ShapeKind.List:
                if (token != JsonTokenType.StartArray)
                {
                    Mismatch(ref reader, "must be an array");
                    return;
                }
                WriteList(ref reader, shape, context);
                return;
            case ShapeKind.Map:
                if (token != JsonTokenType.StartObject)
                {
                    Mismatch(ref reader, "must be an object of name/value pairs");
                    return;
                }
                WriteMap(ref reader, shape, context);
                return;
            case ShapeKind.String:
                if (token != JsonTokenType.String)
                {
                    Mismatch(ref reader, "must be a string");
                    return;
                }
                CheckString(ref reader, shape, "value");
                if (context != 0)
                {
                    _rules.StringValue(context, ref reader);
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
                WriteWhole(ref reader, shape);
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

    /// <summary>An Integer or Long value: a whole number within 32 or 64 bits, and within the shape's range.</summary>
    private void WriteWhole(ref Utf8JsonReader reader, Shape shape)
    {
        var isInteger = shape.Kind == ShapeKind.Integer;
        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var whole) || (isInteger && whole is < int.MinValue or > int.MaxValue))
        {
            Mismatch(ref reader, $"must be a whole number{(isInteger ? " (32-bit)" : "")}");
            return;
        }
        if (whole < shape.Min || whole > shape.Max)
        {
            Report($"must be between {shape.Min} and {shape.Max}");
        }
        Out?.WriteNumberValue(whole);
    }

    private void WriteStructure(ref Utf8JsonReader reader, Shape shape, int context, bool root)
    {
        Out?.WriteStartObject();
        var seen = 0UL;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (root && _rules.ReadRootMember(ref reader))
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
                var memberContext = context != 0 ? _rules.MemberContext(context, member) : 0;
                Out?.WritePropertyName(member.WireText);
                var range = memberContext != 0 && _rules.WantsOutputRange(memberContext);
                var start = range ? OutputPosition() : 0;
                WriteValue(ref reader, member.Shape, memberContext);
                if (range && Out is not null)
                {
                    _rules.OutputRange(memberContext, start..OutputPosition());
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
        if (context != 0)
        {
            _rules.StructureEnd(context, shape, seen, Out);
        }
        Out?.WriteEndObject();
    }

    private void WriteList(ref Utf8JsonReader reader, Shape shape, int context)
    {
        Out?.WriteStartArray();
        var itemContext = context != 0 ? _rules.ItemContext(context) : 0;
        var count = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            _path.Add(Segment.Item(count++));
            WriteValue(ref reader, shape.MemberShape!, itemContext);
            _path.RemoveAt(_path.Count - 1);
        }
        if (context != 0)
        {
            _rules.ListEnd(context, Out);
        }
        Out?.WriteEndArray();
        CheckCount(count, shape, "items");
    }

    private void WriteMap(ref Utf8JsonReader reader, Shape shape, int context)
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
            if (context != 0 && _rules.MapKeyProblem(context, ref reader) is { } problem)
            {
                Report(problem);
            }
            CheckString(ref reader, shape.KeyShape!, "key");
            WritePropertyName(ref reader);
            reader.Read();
            WriteValue(ref reader, shape.ValueShape!, 0);
            _path.RemoveAt(_path.Count - 1);
        }
        if (context != 0 && Out is not null)
        {
            // The walker flushes to give the position: a caller gives a map a context only to learn where it ends.
            _rules.MapEnd(context, OutputPosition(), count == 0);
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
