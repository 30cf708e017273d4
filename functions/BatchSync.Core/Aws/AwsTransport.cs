using System.Net.Http.Headers;
using System.Net.Sockets;
using Amazon;
using Amazon.Runtime.Signing;
using BatchSync.Domain;

namespace BatchSync.Aws;

/// <summary>Whether a failed call may be sent again without risk of doing its work twice.</summary>
public enum Idempotency
{
    /// <summary>Repeating it is harmless: retried on throttling, 5xx, timeouts and network errors.</summary>
    Safe,
    /// <summary>Repeating it could do the work twice (SubmitJob): retried only when the service surely did nothing.</summary>
    Unsafe,
}

/// <summary>
/// Sends signed requests to one AWS service endpoint over a shared HttpClient, retries what may be retried and turns
/// error answers into <see cref="AwsServiceException"/>. Any response content type is accepted (moto sends text/html).
/// </summary>
public sealed class AwsTransport
{
    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly RetryPolicy _retry;

    public AwsTransport(HttpClient http, Uri endpoint, string serviceName, RetryPolicy? retry = null)
    {
        _http = http;
        _endpoint = endpoint;
        ServiceName = serviceName;
        _retry = retry ?? RetryPolicy.Default;
    }

    /// <summary>The service's name in error causes, e.g. AWSBatch.</summary>
    public string ServiceName { get; }

    /// <summary>Counts the retries made after a failed attempt.</summary>
    public int Retries => _retries;
    private int _retries;

    /// <summary>A transport signing with SigV4 for <paramref name="signingName"/> with the default credential chain.</summary>
    public static AwsTransport Create(AwsSettings settings, string serviceEnvName, string endpointPrefix, string signingName, string serviceName, RetryPolicy? retry = null) =>
        Create(settings, settings.Region, SharedHttp.Credentials, serviceEnvName, endpointPrefix, signingName, serviceName, retry);

    /// <summary>A transport to a service in <paramref name="region"/>, signing with <paramref name="credentials"/> (a spoke role's).</summary>
    public static AwsTransport Create(AwsSettings settings, string region, Amazon.Runtime.AWSCredentials credentials, string serviceEnvName, string endpointPrefix,
        string signingName, string serviceName, RetryPolicy? retry = null)
    {
        var signer = new SigV4SigningHandler(credentials, RegionEndpoint.GetBySystemName(region), signingName, SharedHttp.Sockets);
        var http = new HttpClient(signer, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
        return new AwsTransport(http, settings.Endpoint(serviceEnvName, endpointPrefix, region), serviceName, retry ?? RetryPolicy.FromSettings(settings));
    }

    public async Task<byte[]> SendAsync(string operation, string path, string contentType, byte[] body, Idempotency idempotency,
        IReadOnlyDictionary<string, string>? headers = null, CancellationToken cancellationToken = default)
    {
        Exception? lastFailure = null;
        for (var attempt = 1; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var timeout = _retry.AttemptTimeout;
            if (InvocationBudget.Remaining(_retry.Clock) is { } remaining)
            {
                if (remaining < InvocationBudget.MinimumAttempt)
                {
                    throw new BudgetExhaustedException(ServiceName, operation, lastFailure);
                }
                timeout = remaining < timeout ? remaining : timeout;
            }
            Exception failure;
            bool retryable;
            using var attemptTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attemptTimeout.CancelAfter(timeout);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_endpoint, path.TrimStart('/')));
                request.Content = new ByteArrayContent(body);
                request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
                if (headers is not null)
                {
                    foreach (var (name, value) in headers)
                    {
                        request.Headers.TryAddWithoutValidation(name, value);
                    }
                }
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, attemptTimeout.Token).ConfigureAwait(false);
                var received = await response.Content.ReadAsByteArrayAsync(attemptTimeout.Token).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return received;
                }
                var error = AwsErrors.Parse(ServiceName, operation, response.StatusCode, response.Headers, received);
                failure = error;
                retryable = error.IsThrottling || (error.IsServerError && idempotency == Idempotency.Safe);
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                failure = new TimeoutException($"{ServiceName} {operation} took longer than {timeout.TotalSeconds:0.#} s.", e);
                retryable = idempotency == Idempotency.Safe;
            }
            catch (HttpRequestException e)
            {
                failure = e;
                // A refused or unreachable connection carried nothing; any other network error may have.
                retryable = idempotency == Idempotency.Safe || IsConnectFailure(e);
            }

            var throttled = failure is AwsServiceException { IsThrottling: true };
            if (!retryable || attempt >= (throttled ? _retry.MaxThrottledAttempts : _retry.MaxAttempts))
            {
                throw failure is AwsServiceException ? failure : new AwsTransportException(ServiceName, operation, attempt, failure);
            }
            lastFailure = failure;
            var backoff = _retry.BackoffBefore(attempt);
            if (!InvocationBudget.HoldsRetryAfter(backoff, _retry.Clock))
            {
                throw new BudgetExhaustedException(ServiceName, operation, failure);
            }
            Interlocked.Increment(ref _retries);
            await _retry.Delay(backoff, cancellationToken).ConfigureAwait(false);
        }
    }

    internal static bool IsConnectFailure(HttpRequestException e) =>
        e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError
        || e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostNotFound or SocketError.HostUnreachable or SocketError.NetworkUnreachable };
}

/// <summary>A call that got no response from the service (timeouts, network errors), after its retries.</summary>
public sealed class AwsTransportException(string service, string operation, int attempts, Exception inner)
    : Exception($"{service} {operation} got no answer after {attempts} attempt(s): {inner.Message}", inner), IServiceCallFailure
{
    public string Service { get; } = service;
    public string Operation { get; } = operation;

    /// <summary>False only when the request surely never reached the service (the connection was never made).</summary>
    public bool MayHaveReachedService { get; } = !(inner is HttpRequestException h && AwsTransport.IsConnectFailure(h));
}
