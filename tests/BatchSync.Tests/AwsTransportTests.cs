using System.Net;
using System.Net.Http.Headers;
using System.Text;
using BatchSync.Domain;
using BatchSync.Aws;

namespace BatchSync.Tests;

public class AwsErrorsTests
{
    private static HttpResponseHeaders Headers(params (string Name, string Value)[] values)
    {
        var response = new HttpResponseMessage();
        foreach (var (name, value) in values)
        {
            response.Headers.TryAddWithoutValidation(name, value);
        }
        return response.Headers;
    }

    [Theory]
    [InlineData("ClientException:http://internal.amazon.com/coral/com.amazonaws.batch/", "ClientException")]
    [InlineData("com.amazonaws.batch#ClientException", "ClientException")]
    [InlineData("com.amazon.coral.service#ThrottlingException:http://x", "ThrottlingException")]
    [InlineData("TaskTimedOut", "TaskTimedOut")]
    [InlineData("  ", null)]
    [InlineData(null, null)]
    public void Codes_are_trimmed_the_standard_way(string? raw, string? expected) =>
        Assert.Equal(expected, AwsErrors.NormalizeCode(raw));

    [Fact]
    public void The_header_wins_over_the_body_and_the_body_gives_the_message()
    {
        var error = AwsErrors.Parse("AWSBatch", "SubmitJob", HttpStatusCode.BadRequest,
            Headers(("X-Amzn-ErrorType", "ClientException:http://x"), ("x-amzn-RequestId", "d45febe2")),
            Encoding.UTF8.GetBytes("""{"__type":"Other","message":"JobDefinition d is not in ACTIVE status"}"""));
        Assert.Equal(("ClientException", "JobDefinition d is not in ACTIVE status", "d45febe2"), (error.ErrorCode, error.ServiceMessage, error.RequestId));
        Assert.Equal("JobDefinition d is not in ACTIVE status (Service: AWSBatch; Status Code: 400; Error Code: ClientException; Request ID: d45febe2; Proxy: null)", error.NativeCause);
    }

    [Theory]
    [InlineData("""{"__type":"com.amazonaws.swf.service.v2.model#TaskDoesNotExist","message":"m"}""", "TaskDoesNotExist")]
    [InlineData("""{"code":"ThrottlingException","Message":"m"}""", "ThrottlingException")]
    [InlineData("""<html>Bad gateway</html>""", "ServiceUnavailable")]
    [InlineData("", "ServiceUnavailable")]
    public void Body_codes_and_non_json_bodies(string body, string expected)
    {
        var error = AwsErrors.Parse("AWSStepFunctions", "SendTaskSuccess", HttpStatusCode.BadGateway, Headers(), Encoding.UTF8.GetBytes(body));
        Assert.Equal(expected, error.ErrorCode);
        Assert.StartsWith(error.ServiceMessage is null ? "null (Service: AWSStepFunctions; Status Code: 502" : "m (", error.NativeCause);
    }

    [Fact]
    public void Native_cause_matches_the_real_examples()
    {
        foreach (var example in Fixtures.Node("native-sync/submit-api-error-examples.json").AsArray())
        {
            var cause = (string?)example!["cause"] ?? (string)example["Cause"]!;
            var m = System.Text.RegularExpressions.Regex.Match(cause, @"^(.*) \(Service: AWSBatch; Status Code: (\d+); Error Code: (\w+); Request ID: ([\w-]+); Proxy: null\)$");
            Assert.True(m.Success, cause);
            var error = new AwsServiceException("AWSBatch", "SubmitJob", (HttpStatusCode)int.Parse(m.Groups[2].Value), m.Groups[3].Value,
                m.Groups[1].Value == "null" ? null : m.Groups[1].Value, m.Groups[4].Value);
            Assert.Equal(cause, error.NativeCause);
        }
    }
}

public class AwsTransportTests
{
    private sealed class ScriptedHandler(params Func<HttpRequestMessage, HttpResponseMessage>[] script) : HttpMessageHandler
    {
        public List<(string Path, string Target, string Body)> Requests { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
            Requests.Add((request.RequestUri!.AbsolutePath, request.Headers.TryGetValues("X-Amz-Target", out var t) ? t.Single() : "", body));
            var step = script[Math.Min(Requests.Count - 1, script.Length - 1)];
            await Task.Yield();
            return step(request);
        }
    }

    private static HttpResponseMessage Answer(int status, string body, string contentType = "text/html; charset=utf-8", string? errorType = null)
    {
        var response = new HttpResponseMessage((HttpStatusCode)status) { Content = new StringContent(body) };
        response.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        if (errorType is not null)
        {
            response.Headers.TryAddWithoutValidation("X-Amzn-ErrorType", errorType);
        }
        return response;
    }

    private static readonly RetryPolicy NoWait = new() { MaxAttempts = 4, Delay = (_, _) => Task.CompletedTask, AttemptTimeout = TimeSpan.FromMilliseconds(500) };

    private static (BatchClient Batch, StepFunctionsClient Sfn, ScriptedHandler Handler) Clients(params Func<HttpRequestMessage, HttpResponseMessage>[] script)
    {
        var handler = new ScriptedHandler(script);
        var http = new HttpClient(handler);
        var endpoint = new Uri("http://127.0.0.1:1/");
        return (new BatchClient(new AwsTransport(http, endpoint, BatchClient.ServiceName, NoWait)),
                new StepFunctionsClient(new AwsTransport(http, endpoint, StepFunctionsClient.ServiceName, NoWait)), handler);
    }

    [Fact]
    public async Task SubmitJob_posts_to_the_rest_json_path_and_reads_a_text_html_answer()
    {
        var (batch, _, handler) = Clients(_ => Answer(200, """{"jobArn":"arn:j","jobId":"1","jobName":"n"}"""));
        var job = await batch.SubmitJobAsync(new System.Text.Json.Nodes.JsonObject { ["jobName"] = "n" });
        Assert.Equal(new SubmittedJob("arn:j", "1", "n"), job);
        Assert.Equal(("/v1/submitjob", """{"jobName":"n"}"""), (handler.Requests[0].Path, handler.Requests[0].Body));
    }

    [Fact]
    public async Task Step_Functions_calls_carry_the_target_and_map_task_answers()
    {
        var (_, sfn, handler) = Clients(
            _ => Answer(200, "{}"),
            _ => Answer(400, """{"__type":"com.amazonaws.swf.service.v2.model#TaskTimedOut","message":"gone"}"""),
            _ => Answer(400, """{"__type":"TaskDoesNotExist"}"""),
            _ => Answer(400, """{"__type":"InvalidToken"}"""),
            _ => Answer(400, """{"__type":"InvalidOutput","message":"bad"}"""));
        Assert.Equal(TaskReply.Accepted, await sfn.SendTaskSuccessAsync("t", "{}"));
        Assert.Equal(TaskReply.TaskClosed, await sfn.SendTaskFailureAsync("t", "e", "c"));
        Assert.Equal(TaskReply.TaskClosed, await sfn.SendTaskHeartbeatAsync("t"));
        Assert.Equal(TaskReply.InvalidToken, await sfn.SendTaskHeartbeatAsync("t"));
        var invalid = await Assert.ThrowsAsync<AwsServiceException>(() => sfn.SendTaskSuccessAsync("t", "{"));
        Assert.Equal("InvalidOutput", invalid.ErrorCode);
        Assert.Equal("AWSStepFunctions.SendTaskSuccess", handler.Requests[0].Target);
        Assert.Equal("""{"taskToken":"t","error":"e","cause":"c"}""", handler.Requests[1].Body);
    }

    [Fact]
    public async Task Throttling_and_server_errors_are_retried_for_safe_calls()
    {
        var (_, sfn, handler) = Clients(
            _ => Answer(400, """{"__type":"ThrottlingException"}"""),
            _ => Answer(503, "<html>unavailable</html>"),
            _ => throw new HttpRequestException("connection reset"),
            _ => Answer(200, "{}"));
        Assert.Equal(TaskReply.Accepted, await sfn.SendTaskHeartbeatAsync("t"));
        Assert.Equal(4, handler.Requests.Count);
    }

    [Fact]
    public async Task A_terminal_answer_is_not_repeated_when_Step_Functions_may_have_taken_it()
    {
        var (_, sfn, handler) = Clients(_ => Answer(503, "<html>unavailable</html>"));
        await Assert.ThrowsAsync<AwsServiceException>(() => sfn.SendTaskSuccessAsync("t", "{}"));
        Assert.Single(handler.Requests);
        var (_, sfn2, handler2) = Clients(_ => throw new HttpRequestException("connection reset"));
        await Assert.ThrowsAsync<AwsTransportException>(() => sfn2.SendTaskFailureAsync("t", "E", "C"));
        Assert.Single(handler2.Requests);
        var (_, sfn3, handler3) = Clients(_ => Answer(400, """{"__type":"ThrottlingException"}"""), _ => Answer(200, "{}"));
        Assert.Equal(TaskReply.Accepted, await sfn3.SendTaskSuccessAsync("t", "{}"));
        Assert.Equal(2, handler3.Requests.Count);
    }

    [Fact]
    public async Task Retries_stop_at_the_limit_with_the_last_error()
    {
        var (_, sfn, handler) = Clients(_ => Answer(503, "<html>unavailable</html>"));
        var error = await Assert.ThrowsAsync<AwsServiceException>(() => sfn.SendTaskHeartbeatAsync("t"));
        Assert.Equal("ServiceUnavailable", error.ErrorCode);
        Assert.Equal(4, handler.Requests.Count);
    }

    [Fact]
    public async Task Throttled_calls_wait_their_turn_longer_than_failed_ones()
    {
        var (batch, _, handler) = Clients(_ => Answer(429, "", errorType: "TooManyRequestsException"));
        var error = await Assert.ThrowsAsync<AwsServiceException>(() => batch.SubmitJobAsync(new System.Text.Json.Nodes.JsonObject { ["jobName"] = "n" }));
        Assert.Equal("TooManyRequestsException", error.ErrorCode);
        Assert.Equal(RetryPolicy.Default.MaxThrottledAttempts, handler.Requests.Count);
        Assert.True(RetryPolicy.Default.MaxThrottledAttempts > RetryPolicy.Default.MaxAttempts);
    }

    [Fact]
    public async Task SubmitJob_is_not_repeated_when_Batch_may_have_acted()
    {
        var (batch, _, handler) = Clients(_ => Answer(500, """{"__type":"ServerException","message":"oops"}"""));
        var error = await Assert.ThrowsAsync<AwsServiceException>(() => batch.SubmitJobAsync(new System.Text.Json.Nodes.JsonObject { ["jobName"] = "n" }));
        Assert.Equal("ServerException", error.ErrorCode);
        Assert.Single(handler.Requests);

        var (batch2, _, handler2) = Clients(_ => throw new HttpRequestException("reset after send"));
        await Assert.ThrowsAsync<AwsTransportException>(() => batch2.SubmitJobAsync(new System.Text.Json.Nodes.JsonObject { ["jobName"] = "n" }));
        Assert.Single(handler2.Requests);
    }

    [Fact]
    public async Task SubmitJob_is_retried_when_throttled_or_never_connected()
    {
        var (batch, _, handler) = Clients(
            _ => Answer(429, """{"__type":"TooManyRequestsException"}"""),
            _ => throw new HttpRequestException(HttpRequestError.ConnectionError, "refused"),
            _ => Answer(200, """{"jobArn":"a","jobId":"1","jobName":"n"}"""));
        Assert.Equal("1", (await batch.SubmitJobAsync(new System.Text.Json.Nodes.JsonObject { ["jobName"] = "n" })).JobId);
        Assert.Equal(3, handler.Requests.Count);
    }

    [Fact]
    public async Task A_hung_call_times_out_per_attempt()
    {
        var handler = new HangingHandler();
        var transport = new AwsTransport(new HttpClient(handler), new Uri("http://127.0.0.1:1/"), "AWSBatch",
            new RetryPolicy { MaxAttempts = 2, Delay = (_, _) => Task.CompletedTask, AttemptTimeout = TimeSpan.FromMilliseconds(50) });
        var error = await Assert.ThrowsAsync<AwsTransportException>(() => new BatchClient(transport).DescribeJobsAsync(["1"]));
        Assert.IsType<TimeoutException>(error.InnerException);
        Assert.Equal(2, handler.Calls);
    }

    private sealed class HangingHandler : HttpMessageHandler
    {
        public int Calls;
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new InvalidOperationException();
        }
    }

    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public async Task No_call_starts_once_the_invocation_budget_is_spent()
    {
        var clock = new ManualClock(DateTimeOffset.UnixEpoch);
        var handler = new ScriptedHandler(_ => Answer(200, "{}"));
        var transport = new AwsTransport(new HttpClient(handler), new Uri("http://127.0.0.1:1/"), "AWSStepFunctions",
            new RetryPolicy { Clock = clock, Delay = (_, _) => Task.CompletedTask });
        using (InvocationBudget.Start(TimeSpan.FromMilliseconds(300), clock))
        {
            await Assert.ThrowsAsync<BudgetExhaustedException>(() => new StepFunctionsClient(transport).SendTaskHeartbeatAsync("t"));
        }
        Assert.Empty(handler.Requests);
        Assert.Null(InvocationBudget.Deadline);
    }

    [Fact]
    public async Task Retries_stop_when_the_backoff_would_outlast_the_budget()
    {
        var clock = new ManualClock(DateTimeOffset.UnixEpoch);
        var handler = new ScriptedHandler(_ => { clock.Now += TimeSpan.FromSeconds(1); return Answer(503, ""); });
        var transport = new AwsTransport(new HttpClient(handler), new Uri("http://127.0.0.1:1/"), "AWSStepFunctions",
            new RetryPolicy { Clock = clock, MaxAttempts = 10, BaseDelay = TimeSpan.FromSeconds(1), Jitter = () => 1, Delay = (d, _) => { clock.Now += d; return Task.CompletedTask; } });
        using (InvocationBudget.Start(TimeSpan.FromSeconds(5), clock))
        {
            var error = await Assert.ThrowsAsync<BudgetExhaustedException>(() => new StepFunctionsClient(transport).SendTaskHeartbeatAsync("t"));
            Assert.IsType<AwsServiceException>(error.InnerException);
        }
        // 1 s call, 1 s backoff, 1 s call, 2 s backoff would leave nothing: two attempts, then a clean failure.
        Assert.Equal(2, handler.Requests.Count);
        Assert.Equal(1, transport.Retries);
    }

    [Fact]
    public void Backoff_is_capped_exponential_with_full_jitter()
    {
        var policy = new RetryPolicy { BaseDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromSeconds(1), Jitter = () => 1.0 };
        Assert.Equal([100, 200, 400, 800, 1000], Enumerable.Range(1, 5).Select(a => policy.BackoffBefore(a).TotalMilliseconds));
        Assert.Equal(TimeSpan.Zero, new RetryPolicy { Jitter = () => 0 }.BackoffBefore(3));
    }

    [Theory]
    [InlineData(null, null, "https://batch.eu-west-1.amazonaws.com/")]
    [InlineData("http://127.0.0.1:5000", null, "http://127.0.0.1:5000/")]
    [InlineData("http://127.0.0.1:5000", "http://127.0.0.1:6000/", "http://127.0.0.1:6000/")]
    public void Endpoints_honour_the_standard_overrides(string? all, string? batch, string expected)
    {
        var env = new Dictionary<string, string?> { ["AWS_REGION"] = "eu-west-1", ["AWS_ENDPOINT_URL"] = all, ["AWS_ENDPOINT_URL_BATCH"] = batch };
        Assert.Equal(expected, new AwsSettings(n => env.GetValueOrDefault(n)).Endpoint("BATCH", "batch").ToString());
    }

    [Theory]
    [InlineData(null, null, null)]
    [InlineData("http://all:1", null, "http://all:1")]
    [InlineData("http://all:1", "http://dynamo:2", "http://dynamo:2")]
    [InlineData(null, "http://dynamo:2", "http://dynamo:2")]
    public void SDK_clients_take_the_same_endpoint_overrides(string? all, string? dynamo, string? expected)
    {
        var env = new Dictionary<string, string?> { ["AWS_REGION"] = "eu-west-1", ["AWS_ENDPOINT_URL"] = all, ["AWS_ENDPOINT_URL_DYNAMODB"] = dynamo };
        var config = new Amazon.DynamoDBv2.AmazonDynamoDBConfig();
        new AwsSettings(n => env.GetValueOrDefault(n)).ApplyEndpoint(config, "DYNAMODB");
        if (expected is null)
        {
            Assert.Equal("eu-west-1", config.RegionEndpoint!.SystemName);
        }
        else
        {
            Assert.Equal(expected, config.ServiceURL.TrimEnd('/'));
        }
    }

    [Fact]
    public void Region_is_required_and_china_has_its_own_domain()
    {
        Assert.Throws<InvalidOperationException>(() => new AwsSettings(_ => null));
        Assert.Equal("https://states.cn-north-1.amazonaws.com.cn/", new AwsSettings(n => n == "AWS_REGION" ? "cn-north-1" : null).Endpoint("SFN", "states").ToString());
    }
}
