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
        if (record.JobQueue is not { } queue || record.JobName is not { } name)
        {
            return [];
        }
        var marker = TaskKey.Marker(ns, record.TaskKey);
        var found = new List<BatchJob>();
        string? next = null;
        do
        {
            cancellationToken.ThrowIfCancellationRequested();
            JobPage page;
            try
            {
                page = await batch.ListNamedAsync(record.JobKind, queue, name, next, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IServiceCallFailure { ErrorCode: "ClientException", IsThrottling: false })
            {
                // Batch refuses to list a queue that does not exist (the submit was refused for the same reason): no
                // job can be there.
                return [];
            }
            var candidates = page.Jobs.Where(j => TaskDecisions.MayBeTheJob(j, record)).Select(j => j.JobId).ToList();
            foreach (var chunk in candidates.Chunk(IBatchApi.MaxDescribeJobs))
            {
                found.AddRange((await batch.DescribeAsync(record.JobKind, chunk, cancellationToken).ConfigureAwait(false)).Where(job => job.Marker == marker));
            }
            next = TaskDecisions.SearchIsPast(page.Jobs, record) ? null : page.NextToken;
        }
        while (next is not null);
        return found.OrderBy(j => j.CreatedAt ?? long.MaxValue).ThenBy(j => j.JobId, StringComparer.Ordinal).Select(j => j.Identity)
            .DistinctBy(j => j.JobId).ToList();
    }
}
