using System.Net.Http.Headers;
using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.Signing;

namespace FloorHandlers;

// Cold-start floors: the least any function that calls AWS can do. Each makes one DynamoDB ListTables call to
// AWS_ENDPOINT_URL (moto) and returns its answer; nothing else. The harness reports them beside the empty handler.

/// <summary>One unsigned HttpClient POST: the cost of the HTTP stack's first use.</summary>
public sealed class HttpCall
{
    private readonly HttpClient _http = new(new SocketsHttpHandler());

    public async Task<Stream> Handler(Stream input)
    {
        using var request = Requests.ListTables();
        request.Headers.TryAddWithoutValidation("Authorization", "none");
        using var response = await _http.SendAsync(request);
        return new MemoryStream(await response.Content.ReadAsByteArrayAsync());
    }
}

/// <summary>One SigV4-signed POST through AWSSDK.Core's SigV4SigningHandler, credentials from the environment.</summary>
public sealed class SignedCall
{
    private readonly HttpClient _http = new(new SigV4SigningHandler(
        new EnvironmentVariablesAWSCredentials(),
        RegionEndpoint.GetBySystemName(Environment.GetEnvironmentVariable("AWS_REGION")),
        "dynamodb",
        new SocketsHttpHandler()));

    public async Task<Stream> Handler(Stream input)
    {
        using var request = Requests.ListTables();
        using var response = await _http.SendAsync(request);
        return new MemoryStream(await response.Content.ReadAsByteArrayAsync());
    }
}

internal static class Requests
{
    public static HttpRequestMessage ListTables()
    {
        var endpoint = Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL")
            ?? throw new InvalidOperationException("AWS_ENDPOINT_URL is not set.");
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(endpoint))
        {
            Content = new ByteArrayContent("{}"u8.ToArray()),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.0");
        request.Headers.TryAddWithoutValidation("X-Amz-Target", "DynamoDB_20120810.ListTables");
        return request;
    }
}
