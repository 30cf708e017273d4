using Amazon.Runtime;
using BatchSync.Aws;
using BatchSync.Domain;

namespace BatchSync.Tests;

/// <summary>
/// Step Functions in several accounts and regions, as AWS keeps it: a token answers only at its execution's region,
/// from a principal of its execution's account (anything else: InvalidToken, as moto also answers); the hub's calls
/// act as the hub, a spoke client's as whichever account its credentials are (the access key names it, as moto maps
/// keys to accounts). STS is <see cref="FakeRoleAssumer"/>.
/// </summary>
public sealed class FakeSpokes
{
    public const string Hub = "123456789012", B = "222222222222", C = "333333333333", Stranger = "444444444444";
    public const string HubRegion = "us-east-1", OtherRegion = "eu-west-1";

    public FakeWorld World { get; } = new();
    public CallLog Log => World.Log;
    public FakeRoleAssumer Sts { get; }
    private readonly Dictionary<string, (string Account, string Region)> _issued = [];
    private readonly Dictionary<(string, string), FakeStepFunctions> _places = [];
    /// <summary>Every call that reached a place, with the account and region it acted as.</summary>
    public List<(string Account, string Region, string Operation, string Token, TaskReply Reply)> Calls { get; } = [];

    public FakeSpokes(TimeProvider? clock = null)
    {
        Sts = new FakeRoleAssumer(clock ?? TimeProvider.System);
    }

    public Tenancy Tenancy { get; set; } = new()
    {
        HubAccount = Hub, HubRegion = HubRegion, TenantAccounts = new HashSet<string> { B, C },
    };

    /// <summary>A task token issued by an execution in this account and region.</summary>
    public string Issue(string account, string region)
    {
        var token = $"tok-{account}-{region}-{Guid.NewGuid():N}";
        lock (_issued) { _issued[token] = (account, region); }
        return token;
    }

    public static string ExecutionArn(string account, string region, string name = "run-1") =>
        $"arn:aws:states:{region}:{account}:execution:nightly:{name}";

    public FakeStepFunctions At(string account, string region)
    {
        lock (_places)
        {
            if (!_places.TryGetValue((account, region), out var place))
            {
                _places[(account, region)] = place = new FakeStepFunctions(Log);
            }
            return place;
        }
    }

    public SpokeCredentials Credentials(TimeProvider? clock = null, Action<SpokeUnreachableException>? onUnreachable = null) =>
        _credentials ??= new SpokeCredentials(Sts, clock ?? TimeProvider.System, "hub-stack", onUnreachable);
    private SpokeCredentials? _credentials;

    public SpokeRouter Router(TimeProvider? clock = null, Action<SpokeUnreachableException>? onUnreachable = null) =>
        new(new PlaceClient(this, HubRegion, null), Tenancy, Credentials(clock, onUnreachable), (region, credentials) => new PlaceClient(this, region, credentials));

    public Processing.JobSubmitter Submitter(SpokeRouter? router = null) =>
        new(World.Batch, router ?? Router(), World.Store, FakeWorld.Namespace, TimeProvider.System) { Tenancy = Tenancy };

    public Processing.CallbackProcessor Callbacks(SpokeRouter? router = null) =>
        new(World.Batch, router ?? Router(), World.Store, FakeWorld.Namespace) { Tenancy = Tenancy };

    private sealed class PlaceClient(FakeSpokes world, string region, AWSCredentials? credentials) : IStepFunctionsApi
    {
        private string Account => credentials is null ? Hub : FakeRoleAssumer.AccountOf(credentials.GetCredentials().AccessKey);

        public Task<TaskReply> SendTaskSuccessAsync(string taskToken, string output, CancellationToken cancellationToken = default) =>
            Call("SendTaskSuccess", taskToken, place => place.SendTaskSuccessAsync(taskToken, output, cancellationToken));

        public Task<TaskReply> SendTaskFailureAsync(string taskToken, string error, string cause, CancellationToken cancellationToken = default) =>
            Call("SendTaskFailure", taskToken, place => place.SendTaskFailureAsync(taskToken, error, cause, cancellationToken));

        public Task<TaskReply> SendTaskHeartbeatAsync(string taskToken, CancellationToken cancellationToken = default) =>
            Call("SendTaskHeartbeat", taskToken, place => place.SendTaskHeartbeatAsync(taskToken, cancellationToken));

        private async Task<TaskReply> Call(string operation, string token, Func<FakeStepFunctions, Task<TaskReply>> send)
        {
            var account = Account;
            bool issuedHere;
            lock (world._issued)
            {
                issuedHere = world._issued.TryGetValue(token, out var at) && at == (account, region);
            }
            var reply = issuedHere ? await send(world.At(account, region)) : TaskReply.InvalidToken;
            lock (world.Calls) { world.Calls.Add((account, region, operation, token, reply)); }
            return reply;
        }
    }
}

/// <summary>STS as the hub meets it: a role can be assumed while it exists and trusts the hub; the credentials' key names the role's account.</summary>
public sealed class FakeRoleAssumer(TimeProvider clock) : IRoleAssumer
{
    public HashSet<string> Denied { get; } = [];
    public List<(string RoleArn, string ExternalId)> Calls { get; } = [];
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromHours(1);
    /// <summary>Thrown by the next AssumeRole only (a failure that is not a dependency's: a bug, an empty answer).</summary>
    public Exception? FailOnce { get; set; }

    public static string AccountOf(string accessKey) => accessKey.Split('-')[1];

    public Task<RoleCredentials> AssumeAsync(string roleArn, string externalId, CancellationToken cancellationToken)
    {
        lock (Calls) { Calls.Add((roleArn, externalId)); }
        if (FailOnce is { } once)
        {
            FailOnce = null;
            throw once;
        }
        if (Denied.Contains(roleArn))
        {
            throw new AwsServiceException("AWSSecurityTokenService", "AssumeRole", System.Net.HttpStatusCode.Forbidden, "AccessDenied",
                $"User: arn:aws:sts::123456789012:assumed-role/hub/BatchSync is not authorized to perform: sts:AssumeRole on resource: {roleArn}", "req-sts");
        }
        var account = roleArn.Split(':')[4];
        return Task.FromResult(new RoleCredentials($"ASIA-{account}-{Calls.Count}", "secret", "session", clock.GetUtcNow() + Lifetime));
    }
}
