using System.Text.Json;

namespace BatchSync.Domain;

/// <summary>
/// What invokes Reconcile: an EventBridge "Step Functions Execution Status Change" event, the sweep schedule's
/// "Scheduled Event" (every shard), or a sweep part <c>{"Sweep": {"Part": k, "Parts": n}}</c> (see <see cref="SweepRequest"/>).
/// </summary>
public abstract record ReconcileInput
{
    public const string ScheduledEventType = "Scheduled Event";

    private ReconcileInput() { }

    public sealed record ExecutionStatus(ExecutionStatusEvent Event) : ReconcileInput;

    public sealed record Sweep(SweepRequest Part) : ReconcileInput;

    public static ReconcileInput Parse(ReadOnlyMemory<byte> payload)
    {
        try
        {
            using var doc = JsonInput.Parse(payload);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty(SweepRequest.Member, out var part))
            {
                return new Sweep(SweepRequest.Parse(part));
            }
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("detail-type", out var type) || type.ValueKind != JsonValueKind.String)
            {
                throw new InvalidEventException($"Reconcile takes EventBridge events with a detail-type, or {{\"{SweepRequest.Member}\": {{\"Part\": k, \"Parts\": n}}}}");
            }
            return type.GetString() switch
            {
                ExecutionStatusEvent.DetailType => new ExecutionStatus(ExecutionStatusEvent.Parse(root)),
                ScheduledEventType => new Sweep(SweepRequest.Whole),
                var other => throw new InvalidEventException($"detail-type \"{other}\" is neither \"{ExecutionStatusEvent.DetailType}\" nor \"{ScheduledEventType}\""),
            };
        }
        catch (JsonException e)
        {
            throw new InvalidEventException(JsonInput.NotJson("payload", e));
        }
    }
}
