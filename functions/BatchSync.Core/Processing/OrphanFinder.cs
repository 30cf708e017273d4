using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Domain;

namespace BatchSync.Processing;

/// <summary>
/// Finds the jobs carrying a record's marker: the job a SubmitJob invocation may have created before it died or lost
/// Batch's answer (SubmitJob has no idempotency token). ListJobs by the record's job name in its queue (one filter at a
/// time; results newest first, every status), read page after page until the jobs are older than the record (less a
/// minute of clock skew) — never cut at a page count, so a Map that reuses one name for thousands of jobs gets no false
/// "not found"; then DescribeJobs on the candidates to read their marker.
/// </summary>
public sealed class OrphanFinder(IBatchApi batch, string ns)
{
    /// <summary>Every job carrying the record's marker, oldest first (normally one).</summary>
    public async Task<IReadOnlyList<SubmittedJob>> FindAllAsync(TaskRecord record, CancellationToken cancellationToken)
    {
        if (record.JobQueue is null || record.JobName is null)
        {
            return [];
        }
        var marker = TaskKey.Marker(ns, record.TaskKey);
        var found = new List<(long CreatedAt, SubmittedJob Job)>();
        string? next = null;
        do
        {
            cancellationToken.ThrowIfCancellationRequested();
            var request = new JsonObject
            {
                ["jobQueue"] = record.JobQueue,
                ["filters"] = new JsonArray(new JsonObject { ["name"] = "JOB_NAME", ["values"] = new JsonArray(record.JobName) }),
            };
            if (next is not null)
            {
                request["nextToken"] = next;
            }
            IReadOnlyList<JobSummary> jobs;
            string? nextToken;
            try
            {
                (jobs, nextToken) = await batch.ListJobsAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IServiceCallFailure { ErrorCode: "ClientException", IsThrottling: false })
            {
                // Batch refuses to list a queue that does not exist (the submit was refused for the same reason): no
                // job can be there.
                return [];
            }
            var candidates = jobs.Where(j => TaskDecisions.MayBeTheJob(j, record)).Select(j => j.JobId).ToList();
            foreach (var chunk in candidates.Chunk(IBatchApi.MaxDescribeJobs))
            {
                foreach (var detail in await batch.DescribeJobsAsync(chunk, cancellationToken).ConfigureAwait(false))
                {
                    if (JobStateEvent.MarkerOf(detail) == marker)
                    {
                        var createdAt = detail.TryGetProperty("createdAt", out var c) && c.TryGetInt64(out var at) ? at : long.MaxValue;
                        found.Add((createdAt, new SubmittedJob(Text(detail, "jobArn"), Text(detail, "jobId"), Text(detail, "jobName"))));
                    }
                }
            }
            next = TaskDecisions.SearchIsPast(jobs, record) ? null : nextToken;
        }
        while (next is not null);
        return found.OrderBy(f => f.CreatedAt).ThenBy(f => f.Job.JobId, StringComparer.Ordinal).Select(f => f.Job)
            .DistinctBy(j => j.JobId).ToList();
    }

    private static string Text(JsonElement detail, string name) =>
        detail.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
}
