using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.Tasks;

namespace BatchSync.Processing;

/// <summary>
/// Finds the job a SubmitJob invocation may have submitted before it crashed (the record is still Submitting, with
/// no job id): jobs of the record's name in its queue, the one carrying the record's marker. SubmitJob has no
/// idempotency token, so this is how a retried or swept submit avoids a second job.
/// </summary>
public sealed class OrphanFinder(IBatchApi batch, string ns)
{
    private const int MaxPages = 10;

    public async Task<SubmittedJob?> FindAsync(JobRecord record, CancellationToken cancellationToken)
    {
        if (record.JobQueue is null || record.JobName is null)
        {
            return null;
        }
        var marker = TaskKey.Marker(ns, record.TaskKey);
        string? next = null;
        for (var page = 0; page < MaxPages; page++)
        {
            // ListJobs takes one filter at a time; with a filter it returns jobs of every status.
            var request = new JsonObject
            {
                ["jobQueue"] = record.JobQueue,
                ["filters"] = new JsonArray(new JsonObject { ["name"] = "JOB_NAME", ["values"] = new JsonArray(record.JobName) }),
            };
            if (next is not null)
            {
                request["nextToken"] = next;
            }
            var (jobs, nextToken) = await batch.ListJobsAsync(request, cancellationToken).ConfigureAwait(false);
            var candidates = jobs.Where(j => j.CreatedAt is null || j.CreatedAt >= record.CreatedAt - 60_000).Select(j => j.JobId).ToList();
            foreach (var chunk in candidates.Chunk(BatchClient.MaxDescribeJobs))
            {
                foreach (var detail in await batch.DescribeJobsAsync(chunk, cancellationToken).ConfigureAwait(false))
                {
                    if (JobStateEvent.MarkerOf(detail) == marker)
                    {
                        return new SubmittedJob(Text(detail, "jobArn"), Text(detail, "jobId"), Text(detail, "jobName"));
                    }
                }
            }
            if (nextToken is null)
            {
                return null;
            }
            next = nextToken;
        }
        return null;
    }

    private static string Text(JsonElement detail, string name) =>
        detail.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
}
