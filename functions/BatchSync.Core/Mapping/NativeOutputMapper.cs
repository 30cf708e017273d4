using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Model;

namespace BatchSync.Mapping;

/// <summary>
/// Turns a Batch JobDetail (wire form, from DescribeJobs or an event) into what the native
/// <c>batch:submitJob.sync</c> integration gives a state: every structure member PascalCase at every depth, members
/// sorted alphabetically, map keys and list order untouched, absent (null) members omitted, BatchSync's marker removed.
/// </summary>
public static class NativeOutputMapper
{
    public static JsonObject ToNative(JsonElement jobDetail) => ToNative(jobDetail, BatchShapes.Instance);

    public static JsonObject ToNative(JsonElement jobDetail, BatchShapes shapes)
    {
        if (jobDetail.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException($"A JobDetail must be a JSON object, not {ShapeValidator.Describe(jobDetail)}.", nameof(jobDetail));
        }
        var native = (JsonObject)Convert(jobDetail, shapes["JobDetail"], shapes)!;
        if (native["Parameters"] is JsonObject parameters)
        {
            parameters.Remove(SubmitRequestMapper.MarkerParameter);
        }
        return native;
    }

    /// <summary>The native output plus a top-level <c>Result</c> (from the Callback function), members kept in order.</summary>
    public static JsonObject WithResult(JsonObject native, JsonNode? result)
    {
        var members = native.Where(p => p.Key != "Result")
            .Select(p => (Key: p.Key, Value: p.Value?.DeepClone()))
            .Append((Key: "Result", Value: result?.DeepClone()))
            .OrderBy(p => p.Key, StringComparer.Ordinal);
        var combined = new JsonObject();
        foreach (var (name, value) in members)
        {
            combined[name] = value;
        }
        return combined;
    }

    private static JsonNode? Convert(JsonElement value, Shape? shape, BatchShapes shapes)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        switch (shape?.Kind)
        {
            case ShapeKind.Structure when value.ValueKind == JsonValueKind.Object:
                var members = new List<KeyValuePair<string, JsonNode?>>();
                foreach (var property in value.EnumerateObject())
                {
                    if (property.Value.ValueKind == JsonValueKind.Null)
                    {
                        continue;
                    }
                    // A member newer than the model keeps its value as sent, under its PascalCase name.
                    var node = shape.MembersByWire.TryGetValue(property.Name, out var member)
                        ? Convert(property.Value, shapes[member.ShapeName], shapes)
                        : Convert(property.Value, null, shapes);
                    members.Add(new(member?.PascalName ?? BatchShapes.ToPascal(property.Name), node));
                }
                members.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
                var result = new JsonObject();
                foreach (var (name, node) in members)
                {
                    result.TryAdd(name, node);
                }
                return result;
            case ShapeKind.List when value.ValueKind == JsonValueKind.Array:
                var itemShape = shapes[shape.Member!];
                var array = new JsonArray();
                foreach (var item in value.EnumerateArray())
                {
                    array.Add(Convert(item, itemShape, shapes));
                }
                return array;
            case ShapeKind.Map when value.ValueKind == JsonValueKind.Object:
                var valueShape = shapes[shape.Value!];
                var map = new JsonObject();
                foreach (var entry in value.EnumerateObject())
                {
                    map[entry.Name] = Convert(entry.Value, valueShape, shapes);
                }
                return map;
            default:
                return CopyValue(value);
        }
    }

    private static JsonNode? CopyValue(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => JsonObject.Create(value.Clone()),
        JsonValueKind.Array => JsonArray.Create(value.Clone()),
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        _ => JsonValue.Create(value.Clone()),
    };
}
