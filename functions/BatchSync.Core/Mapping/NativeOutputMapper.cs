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
            throw new ArgumentException($"A JobDetail must be a JSON object, not {JsonInput.Describe(jobDetail)}.", nameof(jobDetail));
        }
        var native = (JsonObject)Convert(jobDetail, shapes["JobDetail"], shapes)!;
        if (native["Parameters"] is JsonObject parameters)
        {
            parameters.Remove(SubmitRequestMapper.MarkerParameter);
        }
        return native;
    }

    /// <summary>
    /// The native output as UTF-8 JSON, written straight from the JobDetail (no node tree): what a delivery sends
    /// when it fits. <paramref name="resultJson"/>, if any, becomes the top-level <c>Result</c>.
    /// </summary>
    public static byte[] ToNativeUtf8(JsonElement jobDetail, string? resultJson = null)
    {
        var shapes = BatchShapes.Instance;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(Math.Max(1024, jobDetail.ValueKind == JsonValueKind.Object ? 4096 : 256));
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            if (jobDetail.ValueKind != JsonValueKind.Object)
            {
                throw new ArgumentException($"A JobDetail must be a JSON object, not {JsonInput.Describe(jobDetail)}.", nameof(jobDetail));
            }
            WriteStructure(writer, jobDetail, shapes["JobDetail"], shapes, top: true, resultJson);
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteValue(Utf8JsonWriter writer, JsonElement value, Shape? shape, BatchShapes shapes)
    {
        switch (shape?.Kind)
        {
            case ShapeKind.Structure when value.ValueKind == JsonValueKind.Object:
                WriteStructure(writer, value, shape, shapes, top: false, null);
                break;
            case ShapeKind.List when value.ValueKind == JsonValueKind.Array:
                var itemShape = shapes[shape.Member!];
                writer.WriteStartArray();
                foreach (var item in value.EnumerateArray())
                {
                    WriteValue(writer, item, itemShape, shapes);
                }
                writer.WriteEndArray();
                break;
            case ShapeKind.Map when value.ValueKind == JsonValueKind.Object:
                var valueShape = shapes[shape.Value!];
                writer.WriteStartObject();
                foreach (var entry in value.EnumerateObject())
                {
                    if (entry.Value.ValueKind == JsonValueKind.Null)
                    {
                        writer.WriteNull(entry.Name);
                        continue;
                    }
                    writer.WritePropertyName(entry.Name);
                    WriteValue(writer, entry.Value, valueShape, shapes);
                }
                writer.WriteEndObject();
                break;
            default:
                value.WriteTo(writer);
                break;
        }
    }

    private static void WriteStructure(Utf8JsonWriter writer, JsonElement value, Shape shape, BatchShapes shapes, bool top, string? resultJson)
    {
        var members = new List<(string Name, JsonElement Value, Shape? Shape)>(16);
        foreach (var property in value.EnumerateObject())
        {
            if (property.Value.ValueKind == JsonValueKind.Null)
            {
                continue;
            }
            if (shape.MembersByWire.TryGetValue(property.Name, out var member))
            {
                members.Add((member.PascalName, property.Value, shapes[member.ShapeName]));
            }
            else
            {
                members.Add((BatchShapes.ToPascal(property.Name), property.Value, null));
            }
        }
        if (top && resultJson is not null)
        {
            members.RemoveAll(m => m.Name == "Result");
            using var result = JsonDocument.Parse(resultJson);
            members.Add(("Result", result.RootElement.Clone(), null));
        }
        members.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        writer.WriteStartObject();
        string? previous = null;
        foreach (var (name, member, memberShape) in members)
        {
            if (name == previous)
            {
                continue;
            }
            previous = name;
            writer.WritePropertyName(name);
            if (top && name == "Parameters" && member.ValueKind == JsonValueKind.Object)
            {
                writer.WriteStartObject();
                foreach (var entry in member.EnumerateObject())
                {
                    if (entry.Name != SubmitRequestMapper.MarkerParameter)
                    {
                        entry.WriteTo(writer);
                    }
                }
                writer.WriteEndObject();
                continue;
            }
            WriteValue(writer, member, memberShape, shapes);
        }
        writer.WriteEndObject();
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
