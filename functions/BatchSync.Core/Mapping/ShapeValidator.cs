using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Model;

namespace BatchSync.Mapping;

/// <summary>
/// Checks a PascalCase JSON value against a Batch model shape and writes it in wire form: structure members camelCase,
/// map keys and all string values exactly as given. Collects every problem rather than stopping at the first.
/// </summary>
public sealed class ShapeValidator
{
    private const int MaxProblems = 20;
    private readonly BatchShapes _shapes;
    private readonly List<InputProblem> _problems = [];
    // The path to the value being checked, as segments (a member or map key, or a list index): spelled out only
    // when a problem is reported, so valid input costs no path strings.
    private readonly List<(string? Name, int Index)> _path = [];

    public ShapeValidator(BatchShapes shapes) => _shapes = shapes;

    public IReadOnlyList<InputProblem> Problems => _problems;

    public void Report(string path, string message)
    {
        if (_problems.Count < MaxProblems)
        {
            _problems.Add(new InputProblem(path, message));
        }
    }

    private string Path => string.Concat(_path.Select(p => p.Name is null ? $"[{p.Index}]" : "." + p.Name)).TrimStart('.');

    private void Report(string message) => Report(Path, message);

    private JsonNode? Child((string? Name, int Index) segment, JsonElement value, string shapeName)
    {
        _path.Add(segment);
        var node = ToWire(value, shapeName);
        _path.RemoveAt(_path.Count - 1);
        return node;
    }

    /// <summary>Converts one value at the current path; returns null (and records why) when it does not fit the shape.</summary>
    private JsonNode? ToWire(JsonElement value, string shapeName)
    {
        var shape = _shapes[shapeName];
        if (value.ValueKind == JsonValueKind.Null)
        {
            Report("must not be null (omit the member instead)");
            return null;
        }
        switch (shape.Kind)
        {
            case ShapeKind.Structure:
                return StructureToWire(value, shape);
            case ShapeKind.List:
                if (value.ValueKind != JsonValueKind.Array)
                {
                    Report($"must be an array, not {Describe(value)}");
                    return null;
                }
                CheckCount(value.GetArrayLength(), shape, "items");
                var array = new JsonArray();
                var i = 0;
                foreach (var item in value.EnumerateArray())
                {
                    array.Add(Child((null, i++), item, shape.Member!));
                }
                return array;
            case ShapeKind.Map:
                if (value.ValueKind != JsonValueKind.Object)
                {
                    Report($"must be an object of name/value pairs, not {Describe(value)}");
                    return null;
                }
                var map = new JsonObject();
                var count = 0;
                foreach (var entry in value.EnumerateObject())
                {
                    count++;
                    _path.Add((entry.Name, 0));
                    CheckString(entry.Name, _shapes[shape.Key!], "key");
                    map[entry.Name] = ToWire(entry.Value, shape.Value!);
                    _path.RemoveAt(_path.Count - 1);
                }
                CheckCount(count, shape, "entries");
                return map;
            case ShapeKind.String:
                if (value.ValueKind != JsonValueKind.String)
                {
                    Report($"must be a string, not {Describe(value)}");
                    return null;
                }
                var text = value.GetString()!;
                CheckString(text, shape, "value");
                return JsonValue.Create(text);
            case ShapeKind.Boolean:
                if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                {
                    Report($"must be true or false, not {Describe(value)}");
                    return null;
                }
                return JsonValue.Create(value.GetBoolean());
            case ShapeKind.Integer:
            case ShapeKind.Long:
                if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var whole)
                    || (shape.Kind == ShapeKind.Integer && whole is < int.MinValue or > int.MaxValue))
                {
                    Report($"must be a whole number{(shape.Kind == ShapeKind.Integer ? " (32-bit)" : "")}, not {Describe(value)}");
                    return null;
                }
                if (whole < shape.Min || whole > shape.Max)
                {
                    Report($"must be between {shape.Min} and {shape.Max}");
                }
                return shape.Kind == ShapeKind.Integer ? JsonValue.Create((int)whole) : JsonValue.Create(whole);
            case ShapeKind.Double:
            case ShapeKind.Float:
                if (value.ValueKind != JsonValueKind.Number)
                {
                    Report($"must be a number, not {Describe(value)}");
                    return null;
                }
                return JsonValue.Create(value.GetDouble());
            default:
                Report($"has a type ({shape.Kind}) BatchSync does not accept");
                return null;
        }
    }

    /// <summary>Converts a whole request object, leaving out the members in <paramref name="skip"/> (BatchSync's own).</summary>
    public JsonObject? RootToWire(JsonElement value, string shapeName, IReadOnlySet<string> skip) =>
        StructureToWire(value, _shapes[shapeName], skip);

    private JsonObject? StructureToWire(JsonElement value, Shape shape, IReadOnlySet<string>? skip = null)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            Report($"must be an object, not {Describe(value)}");
            return null;
        }
        var result = new JsonObject();
        foreach (var property in value.EnumerateObject())
        {
            if (skip?.Contains(property.Name) == true)
            {
                continue;
            }
            if (!shape.MembersByPascal.TryGetValue(property.Name, out var member))
            {
                _path.Add((property.Name, 0));
                Report(UnknownMember(property.Name, shape));
                _path.RemoveAt(_path.Count - 1);
                continue;
            }
            if (result.ContainsKey(member.WireName))
            {
                _path.Add((property.Name, 0));
                Report("is given more than once");
                _path.RemoveAt(_path.Count - 1);
                continue;
            }
            result[member.WireName] = Child((member.PascalName, 0), property.Value, member.ShapeName);
        }
        foreach (var required in shape.Required)
        {
            if (!result.ContainsKey(required))
            {
                _path.Add((BatchShapes.ToPascal(required), 0));
                Report("is required");
                _path.RemoveAt(_path.Count - 1);
            }
        }
        return result;
    }

    private void CheckString(string text, Shape shape, string what)
    {
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

    private static string UnknownMember(string name, Shape shape)
    {
        var suggestion = shape.MembersByPascal.Keys
            .Select(known => (known, distance: Distance(name.ToLowerInvariant(), known.ToLowerInvariant())))
            .Where(c => c.distance <= Math.Max(2, name.Length / 4))
            .OrderBy(c => c.distance).ThenBy(c => c.known, StringComparer.Ordinal)
            .Select(c => c.known)
            .FirstOrDefault();
        var known = string.Join(", ", shape.MembersByPascal.Keys.Order(StringComparer.Ordinal));
        return suggestion is null
            ? $"unknown member (expected one of: {known})"
            : $"unknown member (did you mean {suggestion}?)";
    }

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    public static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    private static string Clip(string text) => text.Length <= 64 ? text : text[..64] + "…";
}
