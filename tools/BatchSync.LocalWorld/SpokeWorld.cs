using System.Text;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using Amazon.Runtime;
using Amazon.SQS;
using BatchSync.Aws;

namespace BatchSync.LocalWorld;

/// <summary>
/// One account and region of a moto server, signing with that account's credentials (<see cref="AwsWorld"/> is the
/// default account, 123456789012, signing with the credential chain). Make one with <see cref="Accounts.WorldAsync"/>.
/// The raw calls mirror AwsWorld's (<see cref="SfnAsync"/>, <see cref="EventsAsync"/>...), plus IAM roles for trust
/// policies. Endpoint may be moto's or a <see cref="StsGate"/>'s.
/// </summary>
public sealed class SpokeWorld
{
    private static readonly BatchSync.Aws.RetryPolicy HarnessRetry = new() { AttemptTimeout = TimeSpan.FromSeconds(60) };

    public SpokeWorld(string endpoint, string region, AccountCredentials credentials)
    {
        Endpoint = endpoint.TrimEnd('/');
        Region = region;
        Identity = credentials;
        Credentials = credentials.ToAws();
        Sqs = new AmazonSQSClient(Credentials, new AmazonSQSConfig { ServiceURL = Endpoint, AuthenticationRegion = region });
    }

    public string Endpoint { get; }
    public string Region { get; }
    public string Account => Identity.Account;
    public AccountCredentials Identity { get; }
    public AWSCredentials Credentials { get; }
    public IAmazonSQS Sqs { get; }

    /// <summary>The same account and credentials in another region.</summary>
    public SpokeWorld In(string region) => new(Endpoint, region, Identity);

    /// <summary>The same account, region and credentials, calling another endpoint (a gate or fault proxy in front of moto).</summary>
    public SpokeWorld Through(string endpoint) => new(endpoint, Region, Identity);

    public async Task<JsonNode> CallAsync(string signingName, string operation, string path, string contentType, string body, string? target = null)
    {
        var transport = new AwsTransport(SignedHttp(signingName), new Uri(Endpoint + "/"), signingName, HarnessRetry);
        var headers = target is null ? null : new Dictionary<string, string> { ["X-Amz-Target"] = target };
        var answer = await transport.SendAsync(operation, path, contentType, Encoding.UTF8.GetBytes(body), Idempotency.Safe, headers);
        return answer.Length == 0 ? new JsonObject() : JsonNode.Parse(answer) ?? new JsonObject();
    }

    public HttpClient SignedHttp(string signingName) =>
        new(new Amazon.Runtime.Signing.SigV4SigningHandler(Credentials, Amazon.RegionEndpoint.GetBySystemName(Region), signingName, new HttpClientHandler()));

    public Task<JsonNode> SfnAsync(string operation, JsonObject body) =>
        CallAsync("states", operation, "", "application/x-amz-json-1.0", body.ToJsonString(), $"AWSStepFunctions.{operation}");

    public Task<JsonNode> EventsAsync(string operation, JsonObject body) =>
        CallAsync("events", operation, "", "application/x-amz-json-1.1", body.ToJsonString(), $"AWSEvents.{operation}");

    public Task<JsonNode> BatchAsync(string operation, JsonObject body) =>
        CallAsync("batch", operation, "v1/" + operation.ToLowerInvariant(), "application/json", body.ToJsonString());

    public Task<XDocument> IamAsync(string action, params (string Name, string Value)[] parameters) =>
        Sts.QueryAsync(Endpoint, Region, Credentials, "iam", action, "2010-05-08", parameters);

    public Task<(string Account, string Arn, string UserId)> CallerIdentityAsync() => Sts.GetCallerIdentityAsync(Endpoint, Region, Credentials);

    /// <summary>An AssumeRole signed with this world's credentials (through whatever <see cref="Endpoint"/> is: moto or a gate).</summary>
    public Task<AccountCredentials> AssumeRoleAsync(string roleArn, string sessionName, string? externalId = null, int? durationSeconds = null) =>
        Sts.AssumeRoleAsync(Endpoint, Region, Credentials, roleArn, sessionName, externalId, durationSeconds);

    /// <summary>An IAM role in this account with this trust policy; its ARN.</summary>
    public async Task<string> CreateRoleAsync(string name, JsonObject trustPolicy, int? maxSessionDurationSeconds = null)
    {
        var parameters = new List<(string, string)> { ("RoleName", name), ("AssumeRolePolicyDocument", trustPolicy.ToJsonString()) };
        if (maxSessionDurationSeconds is { } max)
        {
            parameters.Add(("MaxSessionDuration", max.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        var answer = await IamAsync("CreateRole", [.. parameters]);
        return Sts.Find(answer, "Arn")!.Value;
    }

    public Task DeleteRoleAsync(string name) => IamAsync("DeleteRole", ("RoleName", name));

    /// <summary>
    /// The trust policy the spoke template gives its role (i20 contract): the hub account's roles named
    /// &lt;hubStack&gt;-* (aws:PrincipalArn ArnLike) with sts:ExternalId = the hub stack name.
    /// </summary>
    public static JsonObject HubTrustPolicy(string hubAccount, string hubStackName, string partition = "aws") => new()
    {
        ["Version"] = "2012-10-17",
        ["Statement"] = new JsonArray(new JsonObject
        {
            ["Effect"] = "Allow",
            ["Principal"] = new JsonObject { ["AWS"] = $"arn:{partition}:iam::{hubAccount}:root" },
            ["Action"] = "sts:AssumeRole",
            ["Condition"] = new JsonObject
            {
                ["StringEquals"] = new JsonObject { ["sts:ExternalId"] = hubStackName },
                ["ArnLike"] = new JsonObject { ["aws:PrincipalArn"] = $"arn:{partition}:iam::{hubAccount}:role/{hubStackName}-*" },
            },
        }),
    };

    public async Task<JsonArray> HistoryAsync(string executionArn) =>
        (await SfnAsync("GetExecutionHistory", new JsonObject { ["executionArn"] = executionArn }))["events"]!.AsArray();
}
