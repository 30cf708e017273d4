namespace BatchSync.Aws;

/// <summary>Region and endpoints from the standard environment variables, so one build runs against AWS, moto or LocalStack.</summary>
public sealed class AwsSettings
{
    private readonly Func<string, string?> _env;

    public AwsSettings(Func<string, string?> env)
    {
        _env = env;
        Region = Value("AWS_REGION") ?? Value("AWS_DEFAULT_REGION")
            ?? throw new InvalidOperationException("AWS_REGION is not set: BatchSync cannot tell which region to call.");
    }

    public static AwsSettings FromEnvironment() => new(Environment.GetEnvironmentVariable);

    public string Region { get; }

    /// <summary>
    /// AWS_ENDPOINT_URL_&lt;SERVICE&gt;, else AWS_ENDPOINT_URL, else the public endpoint
    /// (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
    /// </summary>
    public Uri Endpoint(string serviceEnvName, string endpointPrefix) => Endpoint(serviceEnvName, endpointPrefix, Region);

    /// <summary>The endpoint of a service in <paramref name="region"/> (a configured endpoint serves every region, as moto does).</summary>
    public Uri Endpoint(string serviceEnvName, string endpointPrefix, string region)
    {
        var configured = ConfiguredEndpoint(serviceEnvName);
        if (configured is not null)
        {
            return new Uri(configured.EndsWith('/') ? configured : configured + "/");
        }
        var domain = region.StartsWith("cn-", StringComparison.Ordinal) ? "amazonaws.com.cn" : "amazonaws.com";
        return new Uri($"https://{endpointPrefix}.{region}.{domain}/");
    }

    /// <summary>The endpoint the environment names for a service (AWS_ENDPOINT_URL_&lt;SERVICE&gt;, else AWS_ENDPOINT_URL), or null.</summary>
    public string? ConfiguredEndpoint(string serviceEnvName) => Value($"AWS_ENDPOINT_URL_{serviceEnvName}") ?? Value("AWS_ENDPOINT_URL");

    /// <summary>Points an AWS SDK client's configuration at the configured endpoint, else at the region's.</summary>
    public void ApplyEndpoint(Amazon.Runtime.ClientConfig config, string serviceEnvName)
    {
        if (ConfiguredEndpoint(serviceEnvName) is { } endpoint)
        {
            config.ServiceURL = endpoint;
        }
        else
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(Region);
        }
    }

    public string? Value(string name)
    {
        var value = _env(name);
        return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
    }
}
