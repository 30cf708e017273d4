using System.Net;
using BatchSync.Domain;

namespace BatchSync.Aws;

/// <summary>An error answer from an AWS service, parsed the standard way.</summary>
public sealed class AwsServiceException : Exception, IServiceCallFailure
{
    public AwsServiceException(string service, string operation, HttpStatusCode statusCode, string errorCode, string? serviceMessage, string? requestId)
        : base($"{service} {operation} failed: {errorCode} ({(int)statusCode}): {serviceMessage}")
    {
        Service = service;
        Operation = operation;
        StatusCode = statusCode;
        ErrorCode = errorCode;
        ServiceMessage = serviceMessage;
        RequestId = requestId;
    }

    /// <summary>The service's name as the native integration writes it in causes, e.g. <c>AWSBatch</c>.</summary>
    public string Service { get; }
    public string Operation { get; }
    public HttpStatusCode StatusCode { get; }
    public string ErrorCode { get; }
    public string? ServiceMessage { get; }
    public string? RequestId { get; }

    /// <summary>The cause text the native integration gives when a service call fails.</summary>
    public string NativeCause =>
        $"{ServiceMessage ?? "null"} (Service: {Service}; Status Code: {(int)StatusCode}; Error Code: {ErrorCode}; Request ID: {RequestId ?? "null"}; Proxy: null)";

    public bool IsThrottling => (int)StatusCode == 429 || AwsErrors.ThrottlingCodes.Contains(ErrorCode);

    public bool IsServerError => (int)StatusCode >= 500;
}
