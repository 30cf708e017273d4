using System.Text.Json;
using System.Text.Unicode;

namespace BatchSync.Domain;

/// <summary>
/// Parses an invocation payload. Invalid UTF-8 is refused here, whole: JsonDocument itself only notices it when a
/// string is read, which would surface as an unnamed error deep inside a mapper.
/// </summary>
public static class JsonInput
{
    public const int MaxDepth = 64;

    /// <summary>Parses, or throws JsonException with a message fit to show the caller.</summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> payload)
    {
        CheckUtf8(payload.Span);
        return JsonDocument.Parse(payload, new JsonDocumentOptions { MaxDepth = MaxDepth });
    }

    /// <summary>Throws JsonException unless the payload is valid UTF-8, for readers that parse it themselves.</summary>
    public static void CheckUtf8(ReadOnlySpan<byte> payload)
    {
        if (!Utf8.IsValid(payload))
        {
            throw new JsonException("the bytes are not valid UTF-8");
        }
    }

    /// <summary>"the payload is not valid JSON (…)" with the parser's first sentence.</summary>
    public static string NotJson(string what, JsonException e)
    {
        var end = e.Message.IndexOf(". ", StringComparison.Ordinal);
        return $"the {what} is not valid JSON ({(end < 0 ? e.Message.TrimEnd('.') : e.Message[..end])})";
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

    public static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => "nothing",
    };
}
