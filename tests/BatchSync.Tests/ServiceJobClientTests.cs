using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.Domain;

namespace BatchSync.Tests;

/// <summary>
/// The four service job operations of BatchClient on the wire (issue 21): restJson1 paths and bodies as the official
/// model gives them (each body walked against the model by hand, ServiceJobMappingTests.Validate), answers read.
/// </summary>
public class ServiceJobClientTests
{
    private sealed class ScriptedHandler(params Func<HttpRequestMessage, HttpResponseMessage>[] script) : HttpMessageHandler
    {
        public List<(string Method, string Path, string Body)> Requests { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
            Requests.Add((request.Method.Method, request.RequestUri!.AbsolutePath, body));
            return script[Math.Min(Requests.Count - 1, script.Length - 1)](request);
        }
    }

    private static HttpResponseMessage Answer(int status, string body, string? errorType = null)
    {
        var response = new HttpResponseMessage((HttpStatusCode)status) { Content = new StringContent(body) };
        response.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/json");
        if (errorType is not null)
        {
            response.Headers.TryAddWithoutValidation("X-Amzn-ErrorType", errorType);
        }
        return response;
    }

    private static readonly RetryPolicy NoWait = new() { MaxAttempts = 3, Delay = (_, _) => Task.CompletedTask, AttemptTimeout = TimeSpan.FromMilliseconds(500) };

    private static (BatchClient Batch, ScriptedHandler Handler) Client(params Func<HttpRequestMessage, HttpResponseMessage>[] script)
    {
        var handler = new ScriptedHandler(script);
        return (new BatchClient(new AwsTransport(new HttpClient(handler), new Uri("http://127.0.0.1:1/"), BatchClient.ServiceName, NoWait)), handler);
    }

    /// <summary>The operation's HTTP binding in the official model.</summary>
    private static (string Method, string Path) Binding(string operation)
    {
        var http = Fixtures.Node("aws-models/batch-2016-08-10.service-2.json")["operations"]![operation]!["http"]!;
        return ((string)http["method"]!, (string)http["requestUri"]!);
    }

    private static void AssertValid(string body, string shape)
    {
        var problems = new List<string>();
        ServiceJobMappingTests.Validate(JsonNode.Parse(body), shape, "$", problems);
        Assert.True(problems.Count == 0, string.Join("; ", problems));
    }

    [Fact]
    public async Task SubmitServiceJob_posts_the_body_as_given_and_is_not_repeated_when_Batch_may_have_acted()
    {
        var (batch, handler) = Client(_ => Answer(200, """{"jobArn":"arn:aws:batch:us-east-1:123456789012:service-job/abc","jobName":"train","jobId":"abc"}"""));
        var body = Fixtures.Utf8("""{"jobName":"train","jobQueue":"q","serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":"{}","clientToken":"ct"}""");

        var job = await batch.SubmitServiceJobAsync(body);

        Assert.Equal(new SubmittedJob("arn:aws:batch:us-east-1:123456789012:service-job/abc", "abc", "train", JobKind.Service), job);
        Assert.Equal(Binding("SubmitServiceJob"), (handler.Requests[0].Method, handler.Requests[0].Path));
        Assert.Equal(System.Text.Encoding.UTF8.GetString(body), handler.Requests[0].Body);

        var (failing, failed) = Client(_ => Answer(500, """{"__type":"ServerException","message":"oops"}"""));
        await Assert.ThrowsAsync<AwsServiceException>(() => failing.SubmitServiceJobAsync(body));
        Assert.Single(failed.Requests);
    }

    [Fact]
    public async Task DescribeServiceJob_asks_for_one_job_and_reads_its_kind_and_marker_tag()
    {
        var (batch, handler) = Client(_ => Answer(200, """
            {"jobId":"abc","jobName":"train","jobArn":"arn:aws:batch:us-east-1:123456789012:service-job/abc","jobQueue":"q","serviceJobType":"SAGEMAKER_TRAINING",
             "status":"RUNNING","createdAt":5,"startedAt":6,"tags":{"BatchSyncTask":"teststack:key","team":"ml"}}
            """));

        var job = (await batch.DescribeServiceJobAsync("abc"))!;

        Assert.Equal(Binding("DescribeServiceJob"), (handler.Requests[0].Method, handler.Requests[0].Path));
        Assert.Equal("""{"jobId":"abc"}""", handler.Requests[0].Body);
        AssertValid(handler.Requests[0].Body, "DescribeServiceJobRequest");
        Assert.Equal(("abc", "train", "RUNNING", 5L, JobKind.Service, "teststack:key"), (job.JobId, job.JobName, job.Status, job.CreatedAt, job.Kind, job.Marker));
        Assert.Equal(new SubmittedJob("arn:aws:batch:us-east-1:123456789012:service-job/abc", "abc", "train", JobKind.Service), job.Identity);
    }

    [Fact]
    public async Task DescribeServiceJob_of_an_unknown_job_is_null_and_a_server_error_is_not()
    {
        var (batch, _) = Client(_ => Answer(400, """{"message":"Job abc not found"}""", "ClientException"));
        Assert.Null(await batch.DescribeServiceJobAsync("abc"));

        var (failing, handler) = Client(_ => Answer(500, """{"message":"oops"}""", "ServerException"));
        await Assert.ThrowsAsync<AwsServiceException>(() => failing.DescribeServiceJobAsync("abc"));
        Assert.Equal(3, handler.Requests.Count);
    }

    [Fact]
    public async Task TerminateServiceJob_sends_the_job_and_the_reason()
    {
        var (batch, handler) = Client(_ => Answer(200, "{}"));
        await batch.TerminateServiceJobAsync("abc", "The Task state ... was aborted");
        Assert.Equal(Binding("TerminateServiceJob"), (handler.Requests[0].Method, handler.Requests[0].Path));
        Assert.Equal("""{"jobId":"abc","reason":"The Task state ... was aborted"}""", handler.Requests[0].Body);
        AssertValid(handler.Requests[0].Body, "TerminateServiceJobRequest");
    }

    [Fact]
    public async Task ListServiceJobs_filters_by_name_pages_and_reads_the_summaries()
    {
        var (batch, handler) = Client(
            _ => Answer(200, """{"jobSummaryList":[{"jobId":"b","jobName":"train","serviceJobType":"SAGEMAKER_TRAINING","status":"FAILED","createdAt":9,"statusReason":"Received status from SageMaker: x"},{"jobId":"a","jobName":"train","serviceJobType":"SAGEMAKER_TRAINING","createdAt":3}],"nextToken":"n1"}"""),
            _ => Answer(200, """{"jobSummaryList":[]}"""));

        var first = await batch.ListServiceJobsNamedAsync("sm-queue", "train", null);
        var second = await batch.ListServiceJobsNamedAsync("sm-queue", "train", "n1");

        Assert.Equal(Binding("ListServiceJobs"), (handler.Requests[0].Method, handler.Requests[0].Path));
        Assert.Equal("""{"jobQueue":"sm-queue","filters":[{"name":"JOB_NAME","values":["train"]}]}""", handler.Requests[0].Body);
        Assert.Equal("""{"jobQueue":"sm-queue","filters":[{"name":"JOB_NAME","values":["train"]}],"nextToken":"n1"}""", handler.Requests[1].Body);
        AssertValid(handler.Requests[1].Body, "ListServiceJobsRequest");
        Assert.Equal("n1", first.NextToken);
        Assert.Equal(new JobSummary("b", "train", "FAILED", 9, StatusReason: "Received status from SageMaker: x"), first.Jobs[0]);
        Assert.Equal(new JobSummary("a", "train", null, 3), first.Jobs[1]);
        Assert.Equal((0, null), (second.Jobs.Count, second.NextToken));
    }
}
