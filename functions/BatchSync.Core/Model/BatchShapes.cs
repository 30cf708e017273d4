using System.Text;
using System.Text.Json;

namespace BatchSync.Model;

public enum ShapeKind { Structure, List, Map, String, Integer, Long, Boolean, Double, Float, Timestamp, Blob }

/// <summary>A member of a structure: its wire (camelCase) name, its PascalCase name and its shape.</summary>
public sealed record ShapeMember(string WireName, string PascalName, string ShapeName)
{
    /// <summary>Its position among its structure's members (below 64: a bit in a mask of members seen).</summary>
    public int Ordinal { get; internal set; }
    public byte[] PascalUtf8 { get; } = Encoding.UTF8.GetBytes(PascalName);
    public JsonEncodedText PascalText { get; } = JsonEncodedText.Encode(PascalName);
    public JsonEncodedText WireText { get; } = JsonEncodedText.Encode(WireName);
    /// <summary>The member's shape, resolved once the whole model is read.</summary>
    public Shape Shape { get; internal set; } = null!;

    // Equal when the model says the same: what is derived from it does not count.
    public bool Equals(ShapeMember? other) =>
        other is not null && WireName == other.WireName && PascalName == other.PascalName && ShapeName == other.ShapeName;

    public override int GetHashCode() => HashCode.Combine(WireName, PascalName, ShapeName);
}

/// <summary>One shape of the official Batch model, reduced to what the mappers need.</summary>
public sealed class Shape
{
    public required string Name { get; init; }
    public required ShapeKind Kind { get; init; }
    /// <summary>Structure members keyed by PascalCase name (how Step Functions users write them).</summary>
    public IReadOnlyDictionary<string, ShapeMember> MembersByPascal { get; init; } = new Dictionary<string, ShapeMember>();
    /// <summary>Structure members keyed by wire (camelCase) name (how Batch answers).</summary>
    public IReadOnlyDictionary<string, ShapeMember> MembersByWire { get; init; } = new Dictionary<string, ShapeMember>();
    public IReadOnlySet<string> Required { get; init; } = new HashSet<string>();
    public IReadOnlySet<string>? Enum { get; init; }
    public string? Member { get; init; }
    public string? Key { get; init; }
    public string? Value { get; init; }
    public long? Min { get; init; }
    public long? Max { get; init; }

    // Resolved once the whole model is read, so walking a value never looks a shape up by name.
    public ShapeMember[] Members { get; internal set; } = [];
    public ShapeMember[] RequiredMembers { get; internal set; } = [];
    /// <summary>The members in the order the native output lists them: PascalCase names, ordinal order.</summary>
    public ShapeMember[] MembersInNativeOrder { get; internal set; } = [];
    /// <summary>Finds a member by its wire name without making a string of it.</summary>
    public Dictionary<string, ShapeMember>.AlternateLookup<ReadOnlySpan<char>> WireLookup { get; internal set; }
    public Shape? MemberShape { get; internal set; }
    public Shape? KeyShape { get; internal set; }
    public Shape? ValueShape { get; internal set; }
}

/// <summary>
/// The Batch shapes reachable from SubmitJobRequest and JobDetail, generated from the official botocore model by
/// tools/gen_batch_shapes.py and embedded as a resource.
/// </summary>
public sealed class BatchShapes
{
    private static readonly Lazy<BatchShapes> Embedded = new(LoadEmbedded);
    private readonly Dictionary<string, Shape> _shapes;

    private BatchShapes(Dictionary<string, Shape> shapes) => _shapes = shapes;

    public static BatchShapes Instance => Embedded.Value;

    public Shape this[string name] => _shapes[name];

    public IEnumerable<Shape> All => _shapes.Values;

    public static string ToPascal(string wireName) =>
        wireName.Length == 0 || char.IsUpper(wireName[0]) ? wireName : char.ToUpperInvariant(wireName[0]) + wireName[1..];

    private static BatchShapes LoadEmbedded()
    {
        using var stream = typeof(BatchShapes).Assembly.GetManifestResourceStream("batch-shapes.json")
            ?? throw new InvalidOperationException("The embedded resource batch-shapes.json is missing from BatchSync.Core.");
        using var doc = JsonDocument.Parse(stream);
        return Parse(doc.RootElement.GetProperty("shapes"));
    }

    /// <summary>Reads a "shapes" object in botocore's form (member entries may be a shape name or {"shape": name}).</summary>
    public static BatchShapes Parse(JsonElement shapes)
    {
        var result = new Dictionary<string, Shape>(StringComparer.Ordinal);
        foreach (var entry in shapes.EnumerateObject())
        {
            var s = entry.Value;
            var kind = s.GetProperty("type").GetString() switch
            {
                "structure" => ShapeKind.Structure,
                "list" => ShapeKind.List,
                "map" => ShapeKind.Map,
                "string" => ShapeKind.String,
                "integer" => ShapeKind.Integer,
                "long" => ShapeKind.Long,
                "boolean" => ShapeKind.Boolean,
                "double" => ShapeKind.Double,
                "float" => ShapeKind.Float,
                "timestamp" => ShapeKind.Timestamp,
                "blob" => ShapeKind.Blob,
                var other => throw new InvalidOperationException($"Shape {entry.Name} has unsupported type '{other}'."),
            };
            var byPascal = new Dictionary<string, ShapeMember>(StringComparer.Ordinal);
            var byWire = new Dictionary<string, ShapeMember>(StringComparer.Ordinal);
            if (s.TryGetProperty("members", out var members))
            {
                foreach (var m in members.EnumerateObject())
                {
                    var member = new ShapeMember(m.Name, ToPascal(m.Name), ShapeRef(m.Value));
                    byPascal[member.PascalName] = member;
                    byWire[member.WireName] = member;
                }
            }
            result[entry.Name] = new Shape
            {
                Name = entry.Name,
                Kind = kind,
                MembersByPascal = byPascal,
                MembersByWire = byWire,
                Required = s.TryGetProperty("required", out var req)
                    ? req.EnumerateArray().Select(r => r.GetString()!).ToHashSet(StringComparer.Ordinal)
                    : new HashSet<string>(),
                Enum = s.TryGetProperty("enum", out var en)
                    ? en.EnumerateArray().Select(r => r.GetString()!).ToHashSet(StringComparer.Ordinal)
                    : null,
                Member = s.TryGetProperty("member", out var mem) ? ShapeRef(mem) : null,
                Key = s.TryGetProperty("key", out var key) ? ShapeRef(key) : null,
                Value = s.TryGetProperty("value", out var val) ? ShapeRef(val) : null,
                Min = s.TryGetProperty("min", out var min) ? min.GetInt64() : null,
                Max = s.TryGetProperty("max", out var max) ? max.GetInt64() : null,
            };
        }
        foreach (var shape in result.Values)
        {
            shape.Members = [.. shape.MembersByPascal.Values];
            if (shape.Members.Length > 64)
            {
                throw new InvalidOperationException($"Shape {shape.Name} has {shape.Members.Length} members; the walkers track at most 64.");
            }
            for (var i = 0; i < shape.Members.Length; i++)
            {
                shape.Members[i].Ordinal = i;
                shape.Members[i].Shape = Resolve(shape.Members[i].ShapeName);
            }
            shape.RequiredMembers = [.. shape.Required.Select(wire => shape.MembersByWire[wire])];
            shape.MembersInNativeOrder = [.. shape.Members.OrderBy(m => m.PascalName, StringComparer.Ordinal)];
            shape.WireLookup = ((Dictionary<string, ShapeMember>)shape.MembersByWire).GetAlternateLookup<ReadOnlySpan<char>>();
            shape.MemberShape = shape.Member is null ? null : Resolve(shape.Member);
            shape.KeyShape = shape.Key is null ? null : Resolve(shape.Key);
            shape.ValueShape = shape.Value is null ? null : Resolve(shape.Value);
        }
        return new BatchShapes(result);

        Shape Resolve(string name) => result.TryGetValue(name, out var s)
            ? s
            : throw new InvalidOperationException($"The model refers to a shape it does not define: {name}.");
    }

    private static string ShapeRef(JsonElement e) =>
        e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetProperty("shape").GetString()!;
}
