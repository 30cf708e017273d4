using System.Text.Json.Nodes;
using BatchSync.Domain;

namespace BatchSync.Aws;

/// <summary>Step Functions over awsJson1_0 (POST / with X-Amz-Target: AWSStepFunctions.&lt;Operation&gt;).</summary>
public sealed class StepFunctionsClient(AwsTransport transport) : IStepFunctionsApi
{
    public const string ServiceName = "AWSStepFunctions";

    public static StepFunctionsClient Create(AwsSettings settings, RetryPolicy? retry = null) =>
        new(AwsTransport.Create(settings, "SFN", "states", "states", ServiceName, retry));

    /// <summary>A client for the endpoint of <paramref name="region"/>, signing with <paramref name="credentials"/>.</summary>
    public static StepFunctionsClient Create(AwsSettings settings, string region, Amazon.Runtime.AWSCredentials credentials, RetryPolicy? retry = null) =>
        new(AwsTransport.Create(settings, region, credentials, "SFN", "states", "states", ServiceName, retry));

    // A task takes one terminal answer: these are not repeated blindly when their outcome is unknown (the caller asks
    // with a heartbeat whether the task still waits); throttling and connections never made are retried.
    public Task<TaskReply> SendTaskSuccessAsync(string taskToken, string output, CancellationToken cancellationToken = default) =>
        SendAsync("SendTaskSuccess", new JsonObject { ["taskToken"] = taskToken, ["output"] = output }, Idempotency.Unsafe, cancellationToken);

    public Task<TaskReply> SendTaskFailureAsync(string taskToken, string error, string cause, CancellationToken cancellationToken = default) =>
        SendAsync("SendTaskFailure", new JsonObject { ["taskToken"] = taskToken, ["error"] = error, ["cause"] = cause }, Idempotency.Unsafe, cancellationToken);

    public Task<TaskReply> SendTaskHeartbeatAsync(string taskToken, CancellationToken cancellationToken = default) =>
        SendAsync("SendTaskHeartbeat", new JsonObject { ["taskToken"] = taskToken }, Idempotency.Safe, cancellationToken);

    /// <summary>Calls any Step Functions JSON operation; used by the tests to drive moto (CreateStateMachine, ...).</summary>
    public Task<byte[]> CallAsync(string operation, JsonObject request, CancellationToken cancellationToken = default) =>
        CallAsync(operation, request, Idempotency.Safe, cancellationToken);

    private Task<byte[]> CallAsync(string operation, JsonObject request, Idempotency idempotency, CancellationToken cancellationToken) =>
        transport.SendAsync(operation, "", "application/x-amz-json-1.0", JsonText.ToUtf8(request), idempotency,
            new Dictionary<string, string> { ["X-Amz-Target"] = $"AWSStepFunctions.{operation}" }, cancellationToken);

    private async Task<TaskReply> SendAsync(string operation, JsonObject request, Idempotency idempotency, CancellationToken cancellationToken)
    {
        try
        {
            await CallAsync(operation, request, idempotency, cancellationToken).ConfigureAwait(false);
            return TaskReply.Accepted;
        }
        catch (AwsServiceException e) when (e.ErrorCode is "TaskTimedOut" or "TaskDoesNotExist")
        {
            return TaskReply.TaskClosed;
        }
        catch (AwsServiceException e) when (e.ErrorCode is "InvalidToken")
        {
            return TaskReply.InvalidToken;
        }
    }
}
