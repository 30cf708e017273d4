using BatchSync.Domain;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BatchSync.Processing;

/// <summary>
/// A function's response, written by hand with a <see cref="Utf8JsonWriter"/>: the bytes the source-generated
/// <see cref="ResponseJsonContext"/> writes (members in declaration order, null members left out), without building the
/// serializer's metadata, which took ~20 ms of a cold start (BENCHMARKS.md §1). <c>ResponsesTests</c> checks both agree.
/// </summary>
public interface IFunctionResponse
{
    void WriteJson(Utf8JsonWriter writer);
}

/// <summary>SubmitJob's response: the native <c>batch:submitJob</c> output, or the error reported through the token.</summary>
public sealed record SubmitJobResponse(string? JobArn, string? JobId, string? JobName, string? Error = null, string? Cause = null, string? Note = null) : IFunctionResponse
{
    public static SubmitJobResponse Of(SubmitStanding standing) => new(standing.JobArn, standing.JobId, standing.JobName, Note: standing.Note);

    public void WriteJson(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        ResponseJson.Optional(writer, "JobArn", JobArn);
        ResponseJson.Optional(writer, "JobId", JobId);
        ResponseJson.Optional(writer, "JobName", JobName);
        ResponseJson.Optional(writer, "Error", Error);
        ResponseJson.Optional(writer, "Cause", Cause);
        ResponseJson.Optional(writer, "Note", Note);
        writer.WriteEndObject();
    }
}

/// <summary>JobStateChange's response (it goes nowhere but the logs and tests): what was done with the event.</summary>
public sealed record JobStateChangeResponse(string Action, string JobId, string? Status = null, string? Reason = null) : IFunctionResponse
{
    public void WriteJson(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        ResponseJson.Optional(writer, "Action", Action);
        ResponseJson.Optional(writer, "JobId", JobId);
        ResponseJson.Optional(writer, "Status", Status);
        ResponseJson.Optional(writer, "Reason", Reason);
        writer.WriteEndObject();
    }
}

/// <summary>Callback's response to the job's code.</summary>
public sealed record CallbackResponse(string JobId, string Action, bool Waiting, string? Reason = null) : IFunctionResponse
{
    public void WriteJson(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        ResponseJson.Optional(writer, "JobId", JobId);
        ResponseJson.Optional(writer, "Action", Action);
        writer.WriteBoolean("Waiting", Waiting);
        ResponseJson.Optional(writer, "Reason", Reason);
        writer.WriteEndObject();
    }
}

/// <summary>
/// Reconcile's response: what an execution stop or a sweep did. For a sweep: <c>Examined</c> checks done,
/// <c>Recorded</c> of them written (their records next due later), <c>LeftDue</c> records read but left due (not
/// reached, cut, or not written: the next sweep takes them first), <c>Errors</c> checks whose calls failed (due again at
/// the next sweep).
/// </summary>
public sealed record ReconcileResponse(string Action, int Examined = 0, int Delivered = 0, int Heartbeats = 0, int Terminated = 0, int Failed = 0, string? Reason = null, int Errors = 0,
    int? Recorded = null, int? LeftDue = null) : IFunctionResponse
{
    public void WriteJson(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        ResponseJson.Optional(writer, "Action", Action);
        writer.WriteNumber("Examined", Examined);
        writer.WriteNumber("Delivered", Delivered);
        writer.WriteNumber("Heartbeats", Heartbeats);
        writer.WriteNumber("Terminated", Terminated);
        writer.WriteNumber("Failed", Failed);
        ResponseJson.Optional(writer, "Reason", Reason);
        writer.WriteNumber("Errors", Errors);
        if (Recorded is { } recorded)
        {
            writer.WriteNumber("Recorded", recorded);
        }
        if (LeftDue is { } leftDue)
        {
            writer.WriteNumber("LeftDue", leftDue);
        }
        writer.WriteEndObject();
    }
}

public static class ResponseJson
{
    /// <summary>The answer's JSON, as the function returns it.</summary>
    public static byte[] ToUtf8(IFunctionResponse response)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            response.WriteJson(writer);
        }
        return buffer.WrittenSpan.ToArray();
    }

    internal static void Optional(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is not null)
        {
            writer.WriteString(name, value);
        }
    }
}

/// <summary>The serializer's view of the answers: no function uses it at run time; the tests compare it with <see cref="IFunctionResponse.WriteJson"/>.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SubmitJobResponse))]
[JsonSerializable(typeof(JobStateChangeResponse))]
[JsonSerializable(typeof(CallbackResponse))]
[JsonSerializable(typeof(ReconcileResponse))]
public sealed partial class ResponseJsonContext : JsonSerializerContext;
