using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Domain;

namespace BatchSync.Aws;

/// <summary>Batch over restJson1 (POST /v1/&lt;operation&gt;), as the official model batch-2016-08-10 describes it.</summary>
public sealed class BatchClient(AwsTransport transport) : IBatchApi
{
    public const string ServiceName = "AWSBatch";

    public static BatchClient Create(AwsSettings settings, RetryPolicy? retry = null) =>
        new(AwsTransport.Create(settings, "BATCH", "batch", "batch", ServiceName, retry));

    /// <summary>SubmitJob with a request in wire form (tests and tools; the functions send the mapper's bytes).</summary>
    public Task<SubmittedJob> SubmitJobAsync(JsonObject request, CancellationToken cancellationToken = default) =>
        SubmitJobAsync(JsonText.ToUtf8(request), cancellationToken);

    public async Task<SubmittedJob> SubmitJobAsync(byte[] requestBody, CancellationToken cancellationToken = default)
    {
        var body = await SendAsync("SubmitJob", "v1/submitjob", requestBody, Idempotency.Unsafe, cancellationToken).ConfigureAwait(false);
        using var doc = JsonDocument.Parse(body);
        var root = doc.RootElement;
        return new SubmittedJob(
            root.GetProperty("jobArn").GetString()!,
            root.GetProperty("jobId").GetString()!,
            root.GetProperty("jobName").GetString()!);
    }

    public async Task<IReadOnlyList<BatchJob>> DescribeJobsAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken = default) =>
        [.. (await DescribeJobDetailsAsync(jobIds, cancellationToken).ConfigureAwait(false)).Select(BatchJob.Of)];

    /// <summary>DescribeJobs' JobDetails in wire form, for the ids Batch still knows (at most 100 ids per call).</summary>
    public async Task<IReadOnlyList<JsonElement>> DescribeJobDetailsAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken = default)
    {
        if (jobIds.Count is 0 or > IBatchApi.MaxDescribeJobs)
        {
            throw new ArgumentOutOfRangeException(nameof(jobIds), $"DescribeJobs takes 1 to {IBatchApi.MaxDescribeJobs} job ids.");
        }
        var body = JsonText.ToUtf8(new JsonObject { ["jobs"] = new JsonArray(jobIds.Select(id => (JsonNode?)JsonValue.Create(id)).ToArray()) });
        var described = await SendAsync("DescribeJobs", "v1/describejobs", body, Idempotency.Safe, cancellationToken).ConfigureAwait(false);
        using var doc = JsonDocument.Parse(described);
        return doc.RootElement.TryGetProperty("jobs", out var jobs) && jobs.ValueKind == JsonValueKind.Array
            ? jobs.EnumerateArray().Select(j => j.Clone()).ToList()
            : [];
    }

    public Task TerminateJobAsync(string jobId, string reason, CancellationToken cancellationToken = default) =>
        SendAsync("TerminateJob", "v1/terminatejob", JsonText.ToUtf8(new JsonObject { ["jobId"] = jobId, ["reason"] = reason }), Idempotency.Safe, cancellationToken);

    public Task<JobPage> ListJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default) =>
        ListPageAsync("ListJobs", "v1/listjobs", Named(jobQueue, jobName), nextToken, cancellationToken);

    public Task<JobPage> ListFailedChildrenAsync(string arrayJobId, int pageSize, string? nextToken, CancellationToken cancellationToken = default) =>
        ListPageAsync("ListJobs", "v1/listjobs", new JsonObject { ["arrayJobId"] = arrayJobId, ["jobStatus"] = "FAILED", ["maxResults"] = pageSize }, nextToken, cancellationToken);

    /// <summary>The jobs of this name in this queue: one filter at a time (AWS takes one); JOB_NAME lists every status, newest first.</summary>
    private static JsonObject Named(string jobQueue, string jobName) => new()
    {
        ["jobQueue"] = jobQueue,
        ["filters"] = new JsonArray(new JsonObject { ["name"] = "JOB_NAME", ["values"] = new JsonArray(jobName) }),
    };

    private async Task<JobPage> ListPageAsync(string operation, string path, JsonObject request, string? nextToken, CancellationToken cancellationToken)
    {
        if (nextToken is not null)
        {
            request["nextToken"] = nextToken;
        }
        var (jobs, next) = await ListAsync(operation, path, request, cancellationToken).ConfigureAwait(false);
        return new JobPage(jobs, next);
    }

    /// <summary>ListJobs with a request in wire form (tests and tools; the functions ask by purpose, above).</summary>
    public Task<(IReadOnlyList<JobSummary> Jobs, string? NextToken)> ListJobsAsync(JsonObject request, CancellationToken cancellationToken = default) =>
        ListAsync("ListJobs", "v1/listjobs", request, cancellationToken);

    /// <summary>
    /// One page of ListJobs or ListServiceJobs: their summaries share the members read here (a service job's has no
    /// array index or container, which are then null).
    /// </summary>
    private async Task<(IReadOnlyList<JobSummary> Jobs, string? NextToken)> ListAsync(string operation, string path, JsonObject request, CancellationToken cancellationToken)
    {
        var body = await SendAsync(operation, path, JsonText.ToUtf8(request), Idempotency.Safe, cancellationToken).ConfigureAwait(false);
        using var doc = JsonDocument.Parse(body);
        var jobs = new List<JobSummary>();
        if (doc.RootElement.TryGetProperty("jobSummaryList", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var j in list.EnumerateArray())
            {
                jobs.Add(new JobSummary(
                    j.GetProperty("jobId").GetString()!,
                    j.GetProperty("jobName").GetString()!,
                    j.TryGetProperty("status", out var s) ? s.GetString() : null,
                    j.TryGetProperty("createdAt", out var c) && c.TryGetInt64(out var at) ? at : null,
                    j.TryGetProperty("arrayProperties", out var a) && a.ValueKind == JsonValueKind.Object && a.TryGetProperty("index", out var i) && i.TryGetInt32(out var index) ? index : null,
                    j.TryGetProperty("statusReason", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null,
                    j.TryGetProperty("container", out var k) && k.ValueKind == JsonValueKind.Object && k.TryGetProperty("exitCode", out var e) && e.TryGetInt32(out var code) ? code : null,
                    j.TryGetProperty("container", out var k2) && k2.ValueKind == JsonValueKind.Object && k2.TryGetProperty("reason", out var cr) && cr.ValueKind == JsonValueKind.String ? cr.GetString() : null));
            }
        }
        var next = doc.RootElement.TryGetProperty("nextToken", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
        return (jobs, next);
    }

    public async Task<SubmittedJob> SubmitServiceJobAsync(byte[] requestBody, CancellationToken cancellationToken = default)
    {
        // Not resent after it may have arrived: a second request with the body's clientToken is rejected, not answered
        // with the first job, so an unknown outcome is settled by looking for the job (JobSearch), as for SubmitJob.
        var body = await SendAsync("SubmitServiceJob", "v1/submitservicejob", requestBody, Idempotency.Unsafe, cancellationToken).ConfigureAwait(false);
        using var doc = JsonDocument.Parse(body);
        var root = doc.RootElement;
        return new SubmittedJob(
            root.TryGetProperty("jobArn", out var arn) && arn.ValueKind == JsonValueKind.String ? arn.GetString()! : "",
            root.GetProperty("jobId").GetString()!,
            root.GetProperty("jobName").GetString()!,
            JobKind.Service);
    }

    public async Task<BatchJob?> DescribeServiceJobAsync(string jobId, CancellationToken cancellationToken = default)
    {
        byte[] body;
        try
        {
            body = await SendAsync("DescribeServiceJob", "v1/describeservicejob", JsonText.ToUtf8(new JsonObject { ["jobId"] = jobId }), Idempotency.Safe, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException e) when (e.ErrorCode == "ClientException" && !e.IsThrottling)
        {
            // DescribeJobs leaves unknown ids out; DescribeServiceJob refuses them (its only client error, for an id BatchSync noted itself).
            return null;
        }
        using var doc = JsonDocument.Parse(body);
        return BatchJob.Of(doc.RootElement.Clone());
    }

    public Task TerminateServiceJobAsync(string jobId, string reason, CancellationToken cancellationToken = default) =>
        SendAsync("TerminateServiceJob", "v1/terminateservicejob", JsonText.ToUtf8(new JsonObject { ["jobId"] = jobId, ["reason"] = reason }), Idempotency.Safe, cancellationToken);

    public Task<JobPage> ListServiceJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default) =>
        ListPageAsync("ListServiceJobs", "v1/listservicejobs", Named(jobQueue, jobName), nextToken, cancellationToken);

    private Task<byte[]> SendAsync(string operation, string path, byte[] body, Idempotency idempotency, CancellationToken cancellationToken) =>
        transport.SendAsync(operation, path, "application/json", body, idempotency, null, cancellationToken);
}
