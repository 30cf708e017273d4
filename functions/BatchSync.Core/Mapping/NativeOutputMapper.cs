using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
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
        var native = (JsonObject)Convert(jobDetail, shapes["JobDetail"])!;
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
        using (var writer = new Utf8JsonWriter(buffer, JsonText.WriterOptions))
        {
            if (jobDetail.ValueKind != JsonValueKind.Object)
            {
                throw new ArgumentException($"A JobDetail must be a JSON object, not {JsonInput.Describe(jobDetail)}.", nameof(jobDetail));
            }
            WriteStructure(writer, jobDetail, shapes["JobDetail"], top: true, resultJson);
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteValue(Utf8JsonWriter writer, JsonElement value, Shape? shape)
    {
        switch (shape?.Kind)
        {
            case ShapeKind.Structure when value.ValueKind == JsonValueKind.Object:
                WriteStructure(writer, value, shape, top: false, null);
                break;
            case ShapeKind.List when value.ValueKind == JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in value.EnumerateArray())
                {
                    WriteValue(writer, item, shape.MemberShape);
                }
                writer.WriteEndArray();
                break;
            case ShapeKind.Map when value.ValueKind == JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var entry in value.EnumerateObject())
                {
                    WriteName(writer, entry);
                    if (entry.Value.ValueKind == JsonValueKind.Null)
                    {
                        writer.WriteNullValue();
                        continue;
                    }
                    WriteValue(writer, entry.Value, shape.ValueShape);
                }
                writer.WriteEndObject();
                break;
            default:
                WritePlain(writer, value);
                break;
        }
    }

    /// <summary>
    /// Writes a value as it is. Numbers, booleans and plain ASCII strings (no escapes) are copied byte for byte: they
    /// read back the same as re-encoding would write them. Anything else is re-encoded.
    /// </summary>
    private static void WritePlain(Utf8JsonWriter writer, JsonElement value)
    {
        if (value.ValueKind is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False or JsonValueKind.String)
        {
            var raw = JsonMarshal.GetRawUtf8Value(value);
            if (value.ValueKind != JsonValueKind.String || (Ascii.IsValid(raw) && raw.IndexOf((byte)'\\') < 0))
            {
                writer.WriteRawValue(raw, skipInputValidation: true);
                return;
            }
        }
        value.WriteTo(writer);
    }

    private static void WriteName(Utf8JsonWriter writer, JsonProperty property)
    {
        var raw = JsonMarshal.GetRawUtf8PropertyName(property);
        if (raw.IndexOf((byte)'\\') < 0)
        {
            writer.WritePropertyName(raw);
        }
        else
        {
            writer.WritePropertyName(property.Name);
        }
    }

    /// <summary>The model's member for a property, found by its raw name; null for a member newer than the model.</summary>
    private static ShapeMember? Find(Shape shape, JsonProperty property)
    {
        var raw = JsonMarshal.GetRawUtf8PropertyName(property);
        if (raw.Length <= 64 && Ascii.IsValid(raw) && raw.IndexOf((byte)'\\') < 0)
        {
            Span<char> name = stackalloc char[raw.Length];
            Ascii.ToUtf16(raw, name, out _);
            return shape.WireLookup.TryGetValue(name, out var found) ? found : null;
        }
        return shape.MembersByWire.GetValueOrDefault(property.Name);
    }

    /// <summary>
    /// A structure with its members PascalCase and sorted: the model's members by ordinal into their precomputed native
    /// order, merged with any members newer than the model (kept as sent, under their PascalCase names).
    /// </summary>
    private static void WriteStructure(Utf8JsonWriter writer, JsonElement value, Shape shape, bool top, string? resultJson)
    {
        var found = ArrayPool<JsonElement>.Shared.Rent(shape.Members.Length);
        try
        {
            var present = 0UL;
            List<(string Name, JsonElement Value)>? newer = null;
            foreach (var property in value.EnumerateObject())
            {
                if (property.Value.ValueKind == JsonValueKind.Null)
                {
                    continue;
                }
                if (Find(shape, property) is { } member)
                {
                    var bit = 1UL << member.Ordinal;
                    if ((present & bit) == 0)
                    {
                        present |= bit;
                        found[member.Ordinal] = property.Value;
                    }
                }
                else
                {
                    (newer ??= []).Add((BatchShapes.ToPascal(property.Name), property.Value));
                }
            }
            JsonDocument? result = null;
            if (top && resultJson is not null)
            {
                newer?.RemoveAll(m => m.Name == "Result");
                result = JsonDocument.Parse(resultJson);
                (newer ??= []).Add(("Result", result.RootElement));
            }
            newer?.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));

            writer.WriteStartObject();
            var known = shape.MembersInNativeOrder;
            int k = 0, n = 0, newerCount = newer?.Count ?? 0;
            string? previousNewer = null;
            while (k < known.Length || n < newerCount)
            {
                if (k < known.Length && (present & (1UL << known[k].Ordinal)) == 0)
                {
                    k++;
                    continue;
                }
                var takeKnown = n >= newerCount || (k < known.Length && string.CompareOrdinal(known[k].PascalName, newer![n].Name) <= 0);
                if (takeKnown)
                {
                    var member = known[k++];
                    // A newer member spelled like a known one, once PascalCase, is the same member: the known one wins.
                    while (n < newerCount && newer![n].Name == member.PascalName)
                    {
                        n++;
                    }
                    writer.WritePropertyName(member.PascalText);
                    var memberValue = found[member.Ordinal];
                    if (top && member.PascalName == "Parameters" && memberValue.ValueKind == JsonValueKind.Object)
                    {
                        WriteParametersWithoutMarker(writer, memberValue);
                    }
                    else
                    {
                        WriteValue(writer, memberValue, member.Shape);
                    }
                }
                else
                {
                    var (name, newerValue) = newer![n++];
                    if (name == previousNewer)
                    {
                        continue;
                    }
                    previousNewer = name;
                    writer.WritePropertyName(name);
                    WriteValue(writer, newerValue, null);
                }
            }
            writer.WriteEndObject();
            result?.Dispose();
        }
        finally
        {
            Array.Clear(found, 0, shape.Members.Length);
            ArrayPool<JsonElement>.Shared.Return(found);
        }
    }

    private static void WriteParametersWithoutMarker(Utf8JsonWriter writer, JsonElement parameters)
    {
        writer.WriteStartObject();
        foreach (var entry in parameters.EnumerateObject())
        {
            if (!entry.NameEquals(SubmitRequestMapper.MarkerParameter))
            {
                entry.WriteTo(writer);
            }
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

    private static JsonNode? Convert(JsonElement value, Shape? shape)
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
                        ? Convert(property.Value, member.Shape)
                        : Convert(property.Value, null);
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
                var array = new JsonArray();
                foreach (var item in value.EnumerateArray())
                {
                    array.Add(Convert(item, shape.MemberShape));
                }
                return array;
            case ShapeKind.Map when value.ValueKind == JsonValueKind.Object:
                var map = new JsonObject();
                foreach (var entry in value.EnumerateObject())
                {
                    map[entry.Name] = Convert(entry.Value, shape.ValueShape);
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
