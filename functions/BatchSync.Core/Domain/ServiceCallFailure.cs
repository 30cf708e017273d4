namespace BatchSync.Domain;

/// <summary>
/// What a failed call to a service tells the decisions (<see cref="TaskDecisions.OnCallFailure"/>): whether the
/// service answered, and with what, or whether the request may have reached it. The adapters' errors carry it.
/// </summary>
public interface IServiceCallFailure
{
    /// <summary>The service's error code when it answered with an error; null when no answer came.</summary>
    string? ErrorCode => null;

    /// <summary>The cause the native integration gives for this error answer (null when no answer came).</summary>
    string? NativeCause => null;

    string? RequestId => null;

    /// <summary>The service answered that it was throttling the call: it did nothing.</summary>
    bool IsThrottling => false;

    /// <summary>The service answered with a 5xx: it may have acted.</summary>
    bool IsServerError => false;

    /// <summary>False only when the request surely never reached the service (the connection was never made).</summary>
    bool MayHaveReachedService => true;

    /// <summary>The invocation's time budget ran out before the call could be sent (again).</summary>
    bool BudgetSpent => false;
}
