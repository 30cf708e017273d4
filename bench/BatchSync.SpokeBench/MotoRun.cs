using System.Text;
using System.Text.Json.Nodes;
using BatchSync.LocalWorld;

namespace BatchSync.SpokeBench;

/// <summary>
/// `--moto N`: N rounds of real executions on moto through the local world's hub and spokes (HubAndSpokes: spoke.yaml's
/// roles, rules and state machines; STS through StsGate, which refuses what AWS would and counts every AssumeRole per
/// role), three accounts, each round each account's execution in another region (round 1: two in the hub's region). SubmitJob
/// and JobStateChange are each one warm host (FunctionHost, the real AWSSDK.SecurityToken client and the real clients
/// to moto); each round every spoke's execution is submitted, its job's SUCCEEDED event handled, the execution waited
/// for. Counted: AssumeRole per spoke at the gate and per host, executions that succeeded.
/// </summary>
public static class MotoRun
{
    public static async Task<JsonObject> RunAsync(int rounds)
    {
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID") ?? "bench");
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY") ?? "bench");
        using var server = new MotoServer();
        server.UseSimpleModes();
        using var world = await HubAndSpokes.CreateAsync(server, "us-east-1", "spokebench");
        // moto runs one execution per account and region (a second StartExecution answers HTTP 500 even after the first
        // ended: /work/notes moto facts), so each round puts every account's execution in a region of its own.
        string[] accounts = ["300000000001", "300000000002", "300000000003"];
        string[][] regionsOf =
        [
            ["us-east-1", "eu-west-1", "us-west-2", "eu-central-1"],
            ["us-east-1", "eu-central-1", "ap-southeast-2", "eu-west-1"],
            ["eu-west-1", "us-west-2", "eu-central-1", "ap-southeast-2"],
        ];
        rounds = Math.Min(rounds, regionsOf[0].Length);
        var places = new List<(int Round, Tenant Tenant)>();
        for (var round = 1; round <= rounds; round++)
        {
            for (var a = 0; a < accounts.Length; a++)
            {
                places.Add((round, await world.AddTenantAsync(accounts[a], regionsOf[a][round - 1])));
            }
        }
        var submitHost = world.NewHost();
        var eventsHost = world.NewHost();
        var submitter = submitHost.Submitter();
        var events = eventsHost.JobEvents();
        var succeeded = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        foreach (var (round, tenant) in places)
        {
            var execution = await tenant.StartAsync($"bench-{round}");
            var request = await tenant.ScheduledRequestAsync(execution);
            var invocation = tenant.InHubRegion ? request : await tenant.RelayAsync(request);
            var submitted = await submitter.SubmitAsync(Encoding.UTF8.GetBytes(invocation.ToJsonString()));
            await events.HandleAsync(Encoding.UTF8.GetBytes((await world.Hub.JobStateChangeEventAsync(submitted.JobId!)).ToJsonString()));
            succeeded += (string?)(await tenant.WaitForExecutionAsync(execution))["status"] == "SUCCEEDED" ? 1 : 0;
        }
        return new JsonObject
        {
            ["rounds"] = rounds, ["executions"] = places.Count, ["places"] = new JsonArray(places.Select(p => (JsonNode?)$"{p.Tenant.Account} {p.Tenant.Region}").ToArray()), ["succeeded"] = succeeded, ["seconds"] = Math.Round(watch.Elapsed.TotalSeconds, 1),
            ["assumeRoleAtTheGate"] = new JsonObject(places.Select(p => p.Tenant).DistinctBy(t => t.Account).Select(t => KeyValuePair.Create(t.Account, (JsonNode?)new JsonObject
            {
                ["calls"] = world.Gate.Calls(t.RoleArn), ["granted"] = world.Gate.Granted(t.RoleArn),
            }))),
            ["assumeRoleByHost"] = new JsonObject
            {
                ["SubmitJob"] = submitHost.SpokeCredentials.AssumeRoleCalls, ["JobStateChange"] = eventsHost.SpokeCredentials.AssumeRoleCalls,
            },
        };
    }
}
