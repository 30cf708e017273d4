using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace BatchSync.Aws;

/// <summary>Reads AWS error answers: the error code from X-Amzn-ErrorType, <c>__type</c> or <c>code</c>; the message.</summary>
public static class AwsErrors
{
    public static readonly IReadOnlySet<string> ThrottlingCodes = new HashSet<string>(StringComparer.Ordinal)
    {
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
        "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
        "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown", "EC2ThrottledException",
        // Step Functions' SendTask* on an execution encrypted with a customer key, when KMS throttles (its model's errors).
        "KmsThrottlingException",
    };

    public static AwsServiceException Parse(string service, string operation, HttpStatusCode status, HttpResponseHeaders headers, ReadOnlySpan<byte> body)
    {
        string? code = null;
        string? message = null;
        if (headers.TryGetValues("X-Amzn-ErrorType", out var errorTypes))
        {
            code = errorTypes.FirstOrDefault();
        }
        try
        {
            if (!body.IsEmpty)
            {
                var reader = new Utf8JsonReader(body);
                using var doc = JsonDocument.ParseValue(ref reader);
                if (doc.RootElement.ValueKind == JsonValueKind.Object)
                {
                    foreach (var p in doc.RootElement.EnumerateObject())
                    {
                        if (p.Value.ValueKind != JsonValueKind.String)
                        {
                            continue;
                        }
                        switch (p.Name)
                        {
                            case "__type" or "code" or "Code":
                                code ??= p.Value.GetString();
                                break;
                            case "message" or "Message" or "errorMessage":
                                message ??= p.Value.GetString();
                                break;
                        }
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON (a proxy's HTML page, say): the status code still tells what happened.
        }
        var requestId = headers.TryGetValues("x-amzn-RequestId", out var ids) ? ids.FirstOrDefault()
            : headers.TryGetValues("x-amz-request-id", out var ids2) ? ids2.FirstOrDefault() : null;
        return new AwsServiceException(service, operation, status, NormalizeCode(code) ?? FallbackCode(status), message, requestId);
    }

    /// <summary><c>ClientException:http://internal...</c> → ClientException; <c>com.amazonaws.batch#ClientException</c> → ClientException.</summary>
    public static string? NormalizeCode(string? raw)
    {
        if (string.IsNullOrWhiteSpace(raw))
        {
            return null;
        }
        var code = raw;
        var colon = code.IndexOf(':');
        if (colon >= 0)
        {
            code = code[..colon];
        }
        var hash = code.LastIndexOf('#');
        if (hash >= 0)
        {
            code = code[(hash + 1)..];
        }
        code = code.Trim();
        return code.Length == 0 ? null : code;
    }

    private static string FallbackCode(HttpStatusCode status) => (int)status switch
    {
        429 => "TooManyRequestsException",
        >= 500 => "ServiceUnavailable",
        _ => $"Http{(int)status}",
    };
}
