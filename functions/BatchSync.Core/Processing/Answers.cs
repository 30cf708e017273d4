using System.Text.Json.Serialization;

namespace BatchSync.Processing;

/// <summary>SubmitJob's answer: the native <c>batch:submitJob</c> output, or the error reported through the token.</summary>
public sealed record SubmitJobAnswer(string? JobArn, string? JobId, string? JobName, string? Error = null, string? Cause = null, string? Note = null);

/// <summary>JobStateChange's answer (it goes nowhere but the logs and tests): what was done with the event.</summary>
public sealed record EventAnswer(string Action, string JobId, string? Status = null, string? Reason = null);

/// <summary>Callback's answer to the job's code.</summary>
public sealed record CallbackAnswer(string JobId, string Action, bool Waiting, string? Reason = null);

/// <summary>Reconcile's answer: what an execution stop or a sweep did.</summary>
public sealed record ReconcileAnswer(string Action, int Examined = 0, int Delivered = 0, int Heartbeats = 0, int Terminated = 0, int Failed = 0, string? Reason = null, int Errors = 0);

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SubmitJobAnswer))]
[JsonSerializable(typeof(EventAnswer))]
[JsonSerializable(typeof(CallbackAnswer))]
[JsonSerializable(typeof(ReconcileAnswer))]
public sealed partial class AnswerJsonContext : JsonSerializerContext;
