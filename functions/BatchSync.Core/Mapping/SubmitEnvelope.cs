using System.Text.Json;

namespace BatchSync.Mapping;

/// <summary>Where a relayed SubmitJob came from: the spoke's account and region, as EventBridge stamped the event.</summary>
public sealed record RelayedFrom(string Account, string Region);

/// <summary>
/// A state machine in another region than the hub's cannot invoke SubmitJob (Lambda refuses cross-region invokes); it
/// puts its payload as an event instead (<c>arn:aws:states:::events:putEvents.waitForTaskToken</c>, source
/// <see cref="Source"/>, detail-type <see cref="DetailType"/>), which its spoke's rule forwards to the hub's bus and
/// the hub's rule delivers to SubmitJob. The payload is the event's detail, unchanged.
/// </summary>
public static class SubmitEnvelope
{
    public const string Source = "batchsync.spoke";
    public const string DetailType = "BatchSync SubmitJob";

    /// <summary>The payload inside a relayed event, and where it came from; a direct payload as it is (null: not relayed).</summary>
    public static (ReadOnlyMemory<byte> Payload, RelayedFrom? From) Unwrap(ReadOnlyMemory<byte> payload)
    {
        // Cheap for the direct path: a payload that never names detail-type is not an event.
        if (payload.Span.IndexOf("\"detail-type\""u8) < 0)
        {
            return (payload, null);
        }
        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("detail-type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != DetailType
                || !root.TryGetProperty("source", out var source) || source.GetString() != Source
                || !root.TryGetProperty("detail", out var detail) || detail.ValueKind != JsonValueKind.Object)
            {
                return (payload, null);
            }
            var account = root.TryGetProperty("account", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString()! : "";
            var region = root.TryGetProperty("region", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : "";
            return (System.Text.Encoding.UTF8.GetBytes(detail.GetRawText()), new RelayedFrom(account, region));
        }
        catch (JsonException)
        {
            return (payload, null);
        }
    }
}
