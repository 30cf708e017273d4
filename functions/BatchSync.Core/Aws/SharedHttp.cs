using Amazon.Runtime;
using Amazon.Runtime.Credentials;

namespace BatchSync.Aws;

/// <summary>
/// What every AWS client in the process shares: one connection pool and one resolved credential chain. Our own
/// transports and the DynamoDB SDK client both send through <see cref="Sockets"/>, so the first call's set-up
/// (connection, handler pipeline) is paid once per process rather than once per client.
/// </summary>
public static class SharedHttp
{
    private static readonly OnFirstUse<SocketsHttpHandler> LazySockets = new(() => new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(3),
    });

    private static readonly OnFirstUse<AWSCredentials> LazyCredentials = new(() => DefaultAWSCredentialsIdentityResolver.GetCredentials());

    public static HttpMessageHandler Sockets => LazySockets.Value;

    /// <summary>
    /// The default chain, resolved once (on Lambda: the function role's keys from the environment); a failed resolution
    /// is tried again on the next use.
    /// </summary>
    public static AWSCredentials Credentials => LazyCredentials.Value;

    /// <summary>Hands the AWS SDK clients an HttpClient over the shared pool instead of one pool per client.</summary>
    public sealed class SdkClientFactory : HttpClientFactory
    {
        public override HttpClient CreateHttpClient(IClientConfig clientConfig) =>
            new(Sockets, disposeHandler: false) { Timeout = clientConfig.Timeout ?? Timeout.InfiniteTimeSpan };

        public override bool UseSDKHttpClientCaching(IClientConfig clientConfig) => true;

        public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => false;

        public override string GetConfigUniqueString(IClientConfig clientConfig) => "batchsync-shared";
    }
}
