using System.Text.Json;
using System.Text.Json.Serialization;

namespace BatchSync.Processing;

/// <summary>
/// A function's answer, written by hand with a <see cref="Utf8JsonWriter"/>: the bytes the source-generated
/// <see cref="AnswerJsonContext"/> writes (members in declaration order, null members left out), without building the
/// serializer's metadata, which took ~20 ms of a cold start (BENCHMARKS.md §1). <c>AnswersTests</c> checks both agree.
/// </summary>
public interface IFunctionAnswer
{
    void WriteJson(Utf8JsonWriter writer);
}

/// <summary>SubmitJob's answer: the native <c>batch:submitJob</c> output, or the error reported through the token.</summary>
public sealed record SubmitJobAnswer(string? JobArn, string? JobId, string? JobName, string? Error = null, string? Cause = null, string? Note = null) : IFunctionAnswer
{
    public void WriteJson(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        AnswerJson.Optional(writer, "JobArn", JobArn);
        AnswerJson.Optional(writer, "JobId", JobId);
        AnswerJson.Optional(writer, "JobName", JobName);
        AnswerJson.Optional(writer, "Error", Error);
        AnswerJson.Optional(writer, "Cause", Cause);
        AnswerJson.Optional(writer, "Note", Note);
        writer.WriteEndObject();
    }
}

/// <summary>JobStateChange's answer (it goes nowhere but the logs and tests): what was done with the event.</summary>
public sealed record EventAnswer(string Action, string JobId, string? Status = null, string? Reason = null) : IFunctionAnswer
{
    public void WriteJson(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        AnswerJson.Optional(writer, "Action", Action);
        AnswerJson.Optional(writer, "JobId", JobId);
        AnswerJson.Optional(writer, "Status", Status);
        AnswerJson.Optional(writer, "Reason", Reason);
        writer.WriteEndObject();
    }
}

/// <summary>Callback's answer to the job's code.</summary>
public sealed record CallbackAnswer(string JobId, string Action, bool Waiting, string? Reason = null) : IFunctionAnswer
{
    public void WriteJson(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        AnswerJson.Optional(writer, "JobId", JobId);
        AnswerJson.Optional(writer, "Action", Action);
        writer.WriteBoolean("Waiting", Waiting);
        AnswerJson.Optional(writer, "Reason", Reason);
        writer.WriteEndObject();
    }
}

/// <summary>Reconcile's answer: what an execution stop or a sweep did.</summary>
public sealed record ReconcileAnswer(string Action, int Examined = 0, int Delivered = 0, int Heartbeats = 0, int Terminated = 0, int Failed = 0, string? Reason = null, int Errors = 0) : IFunctionAnswer
{
    public void WriteJson(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        AnswerJson.Optional(writer, "Action", Action);
        writer.WriteNumber("Examined", Examined);
        writer.WriteNumber("Delivered", Delivered);
        writer.WriteNumber("Heartbeats", Heartbeats);
        writer.WriteNumber("Terminated", Terminated);
        writer.WriteNumber("Failed", Failed);
        AnswerJson.Optional(writer, "Reason", Reason);
        writer.WriteNumber("Errors", Errors);
        writer.WriteEndObject();
    }
}

public static class AnswerJson
{
    /// <summary>The answer's JSON, as the function returns it.</summary>
    public static byte[] ToUtf8(IFunctionAnswer answer)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            answer.WriteJson(writer);
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

/// <summary>The serializer's view of the answers: no function uses it at run time; the tests compare it with <see cref="IFunctionAnswer.WriteJson"/>.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SubmitJobAnswer))]
[JsonSerializable(typeof(EventAnswer))]
[JsonSerializable(typeof(CallbackAnswer))]
[JsonSerializable(typeof(ReconcileAnswer))]
public sealed partial class AnswerJsonContext : JsonSerializerContext;
