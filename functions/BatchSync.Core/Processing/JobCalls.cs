using BatchSync.Domain;

namespace BatchSync.Processing;

/// <summary>
/// The Batch calls for a job of either kind, in one place: a container job's operations, or a service job's (which
/// describes one job per call).
/// </summary>
public static class JobCalls
{
    public static Task<SubmittedJob> SubmitAsync(this IBatchApi batch, JobKind kind, byte[] requestBody, CancellationToken cancellationToken) =>
        kind == JobKind.Service ? batch.SubmitServiceJobAsync(requestBody, cancellationToken) : batch.SubmitJobAsync(requestBody, cancellationToken);

    public static Task TerminateAsync(this IBatchApi batch, JobKind kind, string jobId, string reason, CancellationToken cancellationToken) =>
        kind == JobKind.Service ? batch.TerminateServiceJobAsync(jobId, reason, cancellationToken) : batch.TerminateJobAsync(jobId, reason, cancellationToken);

    public static Task<JobPage> ListNamedAsync(this IBatchApi batch, JobKind kind, string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken) =>
        kind == JobKind.Service
            ? batch.ListServiceJobsNamedAsync(jobQueue, jobName, nextToken, cancellationToken)
            : batch.ListJobsNamedAsync(jobQueue, jobName, nextToken, cancellationToken);

    /// <summary>The jobs Batch still knows of these (at most <see cref="IBatchApi.MaxDescribeJobs"/>); service jobs one call each, in turn.</summary>
    public static async Task<IReadOnlyList<BatchJob>> DescribeAsync(this IBatchApi batch, JobKind kind, IReadOnlyList<string> jobIds, CancellationToken cancellationToken)
    {
        if (kind == JobKind.Container)
        {
            return await batch.DescribeJobsAsync(jobIds, cancellationToken).ConfigureAwait(false);
        }
        var found = new List<BatchJob>(jobIds.Count);
        foreach (var id in jobIds)
        {
            if (await batch.DescribeServiceJobAsync(id, cancellationToken).ConfigureAwait(false) is { } job)
            {
                found.Add(job);
            }
        }
        return found;
    }
}
