using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;

namespace BatchSync.Aws;

/// <summary>
/// STS AssumeRole through the hub region's own STS endpoint (AWSSDK.SecurityToken): regional endpoints keep the
/// sessions valid in opt-in regions and spread STS's per-account quota (IAM User Guide, "Managing AWS STS in an AWS
/// Region"; SetSecurityTokenServicePreferences). The client is made on the first AssumeRole, so the hub's own path never
/// loads it.
/// </summary>
public sealed class StsRoleAssumer(AwsSettings settings, string sessionName, Amazon.Runtime.AWSCredentials? caller = null) : IRoleAssumer
{
    private readonly OnFirstUse<AmazonSecurityTokenServiceClient> _client = new(() =>
    {
        var config = new AmazonSecurityTokenServiceConfig
        {
            HttpClientFactory = new SharedHttp.SdkClientFactory(),
            Timeout = TimeSpan.FromSeconds(5),
            MaxErrorRetry = 2,
        };
        settings.ApplyEndpoint(config, "STS");
        if (config.ServiceURL is not null)
        {
            config.AuthenticationRegion = settings.Region;
        }
        return new AmazonSecurityTokenServiceClient(caller ?? SharedHttp.Credentials, config);
    });

    public async Task<RoleCredentials> AssumeAsync(string roleArn, string externalId, CancellationToken cancellationToken)
    {
        var response = await _client.Value.AssumeRoleAsync(new AssumeRoleRequest
        {
            RoleArn = roleArn,
            RoleSessionName = sessionName,
            ExternalId = externalId,
            DurationSeconds = (int)SpokeCredentials.Session.TotalSeconds,
        }, cancellationToken).ConfigureAwait(false);
        var c = response.Credentials;
        return new RoleCredentials(c.AccessKeyId, c.SecretAccessKey, c.SessionToken,
            c.Expiration is { } at ? new DateTimeOffset(at.Kind == DateTimeKind.Local ? at.ToUniversalTime() : DateTime.SpecifyKind(at, DateTimeKind.Utc))
                : DateTimeOffset.UtcNow + SpokeCredentials.Session);
    }
}
