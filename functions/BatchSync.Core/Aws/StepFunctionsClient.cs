using System.Text.Json.Nodes;
using BatchSync.Mapping;

namespace BatchSync.Aws;

/// <summary>What Step Functions said to a SendTask* call.</summary>
public enum TaskAnswer
{
    /// <summary>Accepted: the task took the result (or the heartbeat).</summary>
    Accepted,
    /// <summary>TaskTimedOut or TaskDoesNotExist: the task is already closed (timed out, completed, or its execution ended).</summary>
    TaskClosed,
    /// <summary>InvalidToken: the token is not one Step Functions knows.</summary>
    InvalidToken,
}

/// <summary>The Step Functions task-token operations BatchSync uses.</summary>
public interface ITaskApi
{
    Task<TaskAnswer> SendTaskSuccessAsync(string taskToken, string output, CancellationToken cancellationToken = default);
    Task<TaskAnswer> SendTaskFailureAsync(string taskToken, string error, string cause, CancellationToken cancellationToken = default);
    Task<TaskAnswer> SendTaskHeartbeatAsync(string taskToken, CancellationToken cancellationToken = default);
}

/// <summary>Step Functions over awsJson1_0 (POST / with X-Amz-Target: AWSStepFunctions.&lt;Operation&gt;).</summary>
public sealed class StepFunctionsClient(AwsTransport transport) : ITaskApi
{
    public const string ServiceName = "AWSStepFunctions";

    public static StepFunctionsClient Create(AwsSettings settings, RetryPolicy? retry = null) =>
        new(AwsTransport.Create(settings, "SFN", "states", "states", ServiceName, retry));

    public Task<TaskAnswer> SendTaskSuccessAsync(string taskToken, string output, CancellationToken cancellationToken = default) =>
        SendAsync("SendTaskSuccess", new JsonObject { ["taskToken"] = taskToken, ["output"] = output }, cancellationToken);

    public Task<TaskAnswer> SendTaskFailureAsync(string taskToken, string error, string cause, CancellationToken cancellationToken = default) =>
        SendAsync("SendTaskFailure", new JsonObject { ["taskToken"] = taskToken, ["error"] = error, ["cause"] = cause }, cancellationToken);

    public Task<TaskAnswer> SendTaskHeartbeatAsync(string taskToken, CancellationToken cancellationToken = default) =>
        SendAsync("SendTaskHeartbeat", new JsonObject { ["taskToken"] = taskToken }, cancellationToken);

    /// <summary>Calls any Step Functions JSON operation; used by the tests to drive moto (CreateStateMachine, ...).</summary>
    public Task<byte[]> CallAsync(string operation, JsonObject request, CancellationToken cancellationToken = default) =>
        transport.SendAsync(operation, "", "application/x-amz-json-1.0", JsonText.ToUtf8(request), Idempotency.Safe,
            new Dictionary<string, string> { ["X-Amz-Target"] = $"AWSStepFunctions.{operation}" }, cancellationToken);

    private async Task<TaskAnswer> SendAsync(string operation, JsonObject request, CancellationToken cancellationToken)
    {
        try
        {
            await CallAsync(operation, request, cancellationToken).ConfigureAwait(false);
            return TaskAnswer.Accepted;
        }
        catch (AwsServiceException e) when (e.ErrorCode is "TaskTimedOut" or "TaskDoesNotExist")
        {
            return TaskAnswer.TaskClosed;
        }
        catch (AwsServiceException e) when (e.ErrorCode is "InvalidToken")
        {
            return TaskAnswer.InvalidToken;
        }
    }
}
