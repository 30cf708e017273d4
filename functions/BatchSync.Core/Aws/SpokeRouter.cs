using System.Collections.Concurrent;
using BatchSync.Domain;

namespace BatchSync.Aws;

/// <summary>
/// Routes each task's Step Functions calls by its record's account and region: the hub's own tasks to the hub's client
/// (no STS call); its account's tasks in another region to that region's endpoint with the function's credentials; a
/// tenant's tasks to their region's endpoint as the tenant's spoke role. One client per account and region.
/// </summary>
public sealed class SpokeRouter(IStepFunctionsApi hub, Tenancy tenancy, SpokeCredentials credentials,
    Func<string, Amazon.Runtime.AWSCredentials?, IStepFunctionsApi> clientFor) : IStepFunctionsRouter
{
    // Keyed by "<account>/<region>": a string key keeps to the framework's precompiled code at the cold start.
    private readonly ConcurrentDictionary<string, IStepFunctionsApi> _clients = new();

    public SpokeCredentials Credentials => credentials;

    public IStepFunctionsApi For(TaskRecord task) => TaskPlace.Of(task) is { } place ? For(place) : hub;

    public IStepFunctionsApi For(TaskPlace place) => TaskDecisions.HomeOf(place, tenancy) switch
    {
        TaskHome.Hub => hub,
        TaskHome.HubAccountElsewhere => _clients.GetOrAdd($"{place.Account}/{place.Region}", _ => clientFor(place.Region, null)),
        _ => _clients.GetOrAdd($"{place.Account}/{place.Region}", _ =>
        {
            var handed = new HandedCredentials();
            return new SpokeStepFunctionsApi(clientFor(place.Region, handed), handed, credentials, place.Account, tenancy.SpokeRoleArn(place));
        }),
    };
}

/// <summary>A spoke's Step Functions client: each call first gets the spoke role's credentials (cached), then is made as that role.</summary>
internal sealed class SpokeStepFunctionsApi(IStepFunctionsApi inner, HandedCredentials handed, SpokeCredentials credentials, string account, string roleArn)
    : IStepFunctionsApi
{
    public async Task<TaskReply> SendTaskSuccessAsync(string taskToken, string output, CancellationToken cancellationToken = default)
    {
        await PrepareAsync(cancellationToken).ConfigureAwait(false);
        return await inner.SendTaskSuccessAsync(taskToken, output, cancellationToken).ConfigureAwait(false);
    }

    public async Task<TaskReply> SendTaskFailureAsync(string taskToken, string error, string cause, CancellationToken cancellationToken = default)
    {
        await PrepareAsync(cancellationToken).ConfigureAwait(false);
        return await inner.SendTaskFailureAsync(taskToken, error, cause, cancellationToken).ConfigureAwait(false);
    }

    public async Task<TaskReply> SendTaskHeartbeatAsync(string taskToken, CancellationToken cancellationToken = default)
    {
        await PrepareAsync(cancellationToken).ConfigureAwait(false);
        return await inner.SendTaskHeartbeatAsync(taskToken, cancellationToken).ConfigureAwait(false);
    }

    private async Task PrepareAsync(CancellationToken cancellationToken) =>
        handed.Hand(await credentials.GetAsync(account, roleArn, cancellationToken).ConfigureAwait(false));
}
