using BatchSync.Domain;
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
    /// <summary>
    /// The answer as text within <paramref name="limit"/>: the native JobDetail (a service job's: its DescribeServiceJob
    /// answer), plus a top-level <c>Result</c> from
    /// <paramref name="resultJson"/> and <paramref name="added"/> members (BatchSync's opt-in extras), all in the native
    /// sorted order; an added member replaces a JobDetail member of its name. Written straight from the JobDetail (no
    /// node tree); an answer that does not fit is written again without what <see cref="OutputBudget"/> leaves out.
    /// </summary>
    public static string ToNativeText(JsonElement jobDetail, OutputLimit limit, string? resultJson = null, IReadOnlyList<AddedMember>? added = null)
    {
        if (jobDetail.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException($"A JobDetail must be a JSON object, not {JsonInput.Describe(jobDetail)}.", nameof(jobDetail));
        }
        using var result = resultJson is null ? null : JsonDocument.Parse(resultJson);
        var answer = result is null && added is null ? TopLevel.JobDetailOnly : new TopLevel(result?.RootElement, added);
        var utf8 = Write(jobDetail, answer);
        return Encoding.UTF8.GetString(limit.Fits(utf8) ? utf8 : WriteWithinBudget(jobDetail, answer, limit));
    }

    // Apart from ToNativeText so that its closure is allocated only for an answer that does not fit.
    private static byte[] WriteWithinBudget(JsonElement jobDetail, TopLevel answer, OutputLimit limit)
    {
        var written = new List<WrittenMember>();
        Write(jobDetail, answer with { Written = written });
        return OutputBudget.Fit(written, limit, omissions => Write(jobDetail, answer with { Omissions = omissions }));
    }

    /// <summary>What the top level holds besides the JobDetail's members, what it leaves out, and where its members' sizes go.</summary>
    private sealed record TopLevel(JsonElement? Result, IReadOnlyList<AddedMember>? Added)
    {
        public static readonly TopLevel JobDetailOnly = new(null, null);

        public Omissions? Omissions { get; init; }
        /// <summary>A service job's answer: its marker is a tag.</summary>
        public bool ServiceJob { get; init; }
        public List<WrittenMember>? Written { get; init; }
    }

    private static readonly Shape JobDetail = BatchShapes.Instance["JobDetail"];
    // A service job's answer is its DescribeServiceJob answer, written as natively a JobDetail is.
    private static readonly Shape ServiceJobDetail = BatchShapes.Instance["DescribeServiceJobResponse"];

    private static byte[] Write(JsonElement jobDetail, TopLevel top)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(buffer, JsonText.WriterOptions))
        {
            var service = BatchJob.KindOf(jobDetail) == JobKind.Service;
            WriteStructure(writer, jobDetail, service ? ServiceJobDetail : JobDetail, service ? top with { ServiceJob = true } : top);
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteValue(Utf8JsonWriter writer, JsonElement value, Shape? shape)
    {
        switch (shape?.Kind)
        {
            case ShapeKind.Structure when value.ValueKind == JsonValueKind.Object:
                WriteStructure(writer, value, shape, top: null);
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
    /// order, merged with any members newer than the model (kept as sent, under their PascalCase names) and, at the top
    /// level, the answer's own members.
    /// </summary>
    private static void WriteStructure(Utf8JsonWriter writer, JsonElement value, Shape shape, TopLevel? top)
    {
        var found = ArrayPool<JsonElement>.Shared.Rent(shape.Members.Length);
        try
        {
            List<OtherMember>? others = null;
            var present = Collect(value, shape, found, ref others);
            if (top is not null)
            {
                AddAnswerMembers(ref others, top);
            }
            others?.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));

            writer.WriteStartObject();
            var known = shape.MembersInNativeOrder;
            int k = 0, n = 0, otherCount = others?.Count ?? 0;
            string? previousOther = null;
            while (k < known.Length || n < otherCount)
            {
                if (k < known.Length && (present & (1UL << known[k].Ordinal)) == 0)
                {
                    k++;
                    continue;
                }
                var takeKnown = n >= otherCount || (k < known.Length && string.CompareOrdinal(known[k].PascalName, others![n].Name) <= 0);
                if (takeKnown)
                {
                    var member = known[k++];
                    if (n < otherCount && others![n].Replaces && others[n].Name == member.PascalName)
                    {
                        continue;
                    }
                    // A newer member spelled like a known one, once PascalCase, is the same member: the known one wins.
                    while (n < otherCount && others![n].Name == member.PascalName)
                    {
                        n++;
                    }
                    if (top is null)
                    {
                        writer.WritePropertyName(member.PascalText);
                        WriteValue(writer, found[member.Ordinal], member.Shape);
                    }
                    else
                    {
                        WriteTopMember(writer, member.PascalName, member.PascalText, found[member.Ordinal], member.Shape, null, top);
                    }
                }
                else
                {
                    var other = others![n++];
                    if (other.Name == previousOther)
                    {
                        continue;
                    }
                    previousOther = other.Name;
                    if (top is null)
                    {
                        writer.WritePropertyName(other.Name);
                        WriteValue(writer, other.Value, null);
                    }
                    else
                    {
                        WriteTopMember(writer, other.Name, null, other.Value, null, other.Node, top);
                    }
                }
            }
            if (top?.Omissions?.Note is { } note)
            {
                WriteOmitted(writer, note);
            }
            writer.WriteEndObject();
        }
        finally
        {
            Array.Clear(found, 0, shape.Members.Length);
            ArrayPool<JsonElement>.Shared.Return(found);
        }
    }

    /// <summary>
    /// Puts the structure's non-null members the model knows into <paramref name="found"/> by ordinal (the first of a
    /// repeated name wins) and returns which are present; the others go to <paramref name="others"/> under their
    /// PascalCase names.
    /// </summary>
    private static ulong Collect(JsonElement value, Shape shape, JsonElement[] found, ref List<OtherMember>? others)
    {
        var present = 0UL;
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
                (others ??= []).Add(new(BatchShapes.ToPascal(property.Name), property.Value, null, Replaces: false));
            }
        }
        return present;
    }

    /// <summary>The <c>BatchSyncOmitted</c> member: what the output budget left out.</summary>
    private static void WriteOmitted(Utf8JsonWriter writer, List<string> note)
    {
        writer.WritePropertyName(OutputBudget.OmittedMember);
        writer.WriteStartArray();
        foreach (var name in note)
        {
            writer.WriteStringValue(name);
        }
        writer.WriteEndArray();
    }

    /// <summary>A member the model does not list (kept as sent), or one the answer adds (<c>Result</c>, BatchSync's), which replaces the JobDetail's.</summary>
    private readonly record struct OtherMember(string Name, JsonElement Value, JsonNode? Node, bool Replaces);

    private static void AddAnswerMembers(ref List<OtherMember>? others, TopLevel top)
    {
        if (top.Result is { } result)
        {
            others?.RemoveAll(m => m.Name == "Result");
            (others ??= []).Add(new("Result", result, null, Replaces: true));
        }
        if (top.Added is { Count: > 0 } added)
        {
            foreach (var member in added)
            {
                others?.RemoveAll(m => m.Name == member.Name);
                (others ??= []).Add(new(member.Name, default, member.Value, Replaces: true));
            }
        }
    }

    /// <summary>A top-level member, unless the budget leaves it out or cuts it; its value's size noted when asked.</summary>
    private static void WriteTopMember(Utf8JsonWriter writer, string name, JsonEncodedText? encodedName, JsonElement value, Shape? shape, JsonNode? node,
        TopLevel top)
    {
        var omissions = top.Omissions;
        if (omissions is not null && omissions.Members.Contains(name))
        {
            return;
        }
        if (encodedName is { } encoded)
        {
            writer.WritePropertyName(encoded);
        }
        else
        {
            writer.WritePropertyName(name);
        }
        var start = writer.BytesCommitted + writer.BytesPending;
        if (node is not null)
        {
            node.WriteTo(writer);
        }
        else if (omissions is not null && omissions.Clipped.TryGetValue(name, out var clipped))
        {
            writer.WriteStringValue(clipped);
        }
        else if ((name == "Parameters" || (name == "Tags" && top.ServiceJob)) && value.ValueKind == JsonValueKind.Object)
        {
            // The marker is a container job's parameter, a service job's tag: BatchSync's, not the caller's (a container
            // job's own tag of that name is the caller's and stays).
            WriteParametersWithoutMarker(writer, value);
        }
        else if (name == "Attempts" && omissions is { LatestAttemptOnly: true } && value.ValueKind == JsonValueKind.Array && value.GetArrayLength() > 0)
        {
            writer.WriteStartArray();
            WriteValue(writer, value[value.GetArrayLength() - 1], shape?.MemberShape);
            writer.WriteEndArray();
        }
        else
        {
            WriteValue(writer, value, shape);
        }
        top.Written?.Add(new(name, (int)(writer.BytesCommitted + writer.BytesPending - start), node is null ? value : null));
    }

    private static void WriteParametersWithoutMarker(Utf8JsonWriter writer, JsonElement parameters)
    {
        writer.WriteStartObject();
        foreach (var entry in parameters.EnumerateObject())
        {
            if (!entry.NameEquals(TaskKey.MarkerParameter))
            {
                entry.WriteTo(writer);
            }
        }
        writer.WriteEndObject();
    }
}

/// <summary>A member an answer adds at the top level of the native JobDetail (BatchSync's opt-in extras).</summary>
public readonly record struct AddedMember(string Name, JsonNode Value);
