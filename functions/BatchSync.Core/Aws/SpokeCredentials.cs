using Amazon.Runtime;
using BatchSync.Domain;

namespace BatchSync.Aws;

/// <summary>A spoke role's temporary credentials, as AssumeRole gave them.</summary>
public sealed record RoleCredentials(string AccessKeyId, string SecretAccessKey, string SessionToken, DateTimeOffset Expiration);

/// <summary>Assumes a role (STS AssumeRole); throws when STS refuses or fails.</summary>
public interface IRoleAssumer
{
    Task<RoleCredentials> AssumeAsync(string roleArn, string externalId, CancellationToken cancellationToken);
}

/// <summary>
/// Each spoke role's credentials, assumed once and kept for the process: refreshed <see cref="RefreshBefore"/> ahead of
/// their expiry (a role assumed from a Lambda function is role chaining, so a session lasts at most an hour), one
/// AssumeRole at a time per role however many calls wait for it. A role that cannot be assumed is not asked again for
/// <see cref="FailureHold"/>: its tasks' calls fail at once, named (<see cref="SpokeUnreachableException"/>), and the
/// other spokes' go on. Credentials still valid outlive a failed refresh.
/// </summary>
public sealed class SpokeCredentials(IRoleAssumer assumer, TimeProvider clock, string externalId, Action<SpokeUnreachableException>? onUnreachable = null)
{
    /// <summary>One hour: the longest session role chaining allows (STS AssumeRole, DurationSeconds).</summary>
    public static readonly TimeSpan Session = TimeSpan.FromHours(1);
    public static readonly TimeSpan RefreshBefore = TimeSpan.FromMinutes(10);
    /// <summary>Credentials this close to expiry are not used for a new call (it may take its retries).</summary>
    public static readonly TimeSpan MinimumLeft = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan FailureHold = TimeSpan.FromSeconds(30);

    private readonly Dictionary<string, Entry> _entries = [];
    private int _assumeRoleCalls;

    /// <summary>
    /// An STS session name from the function's name: 2 to 64 characters of [\w+=,.@-]. Here, not in StsRoleAssumer:
    /// naming that type would load AWSSDK.SecurityToken at every cold start.
    /// </summary>
    public static string SessionNameFor(string? functionName)
    {
        var name = ("BatchSync-" + (functionName ?? "local")).ToCharArray();
        for (var i = 0; i < name.Length; i++)
        {
            name[i] = char.IsAsciiLetterOrDigit(name[i]) || "_+=,.@-".Contains(name[i]) ? name[i] : '-';
        }
        return new string(name, 0, Math.Min(name.Length, 64));
    }

    /// <summary>The AssumeRole calls made so far (the benchmark counts them).</summary>
    public int AssumeRoleCalls => Volatile.Read(ref _assumeRoleCalls);

    public async Task<RoleCredentials> GetAsync(string account, string roleArn, CancellationToken cancellationToken)
    {
        Task<RoleCredentials> pending;
        Entry entry;
        lock (_entries)
        {
            if (!_entries.TryGetValue(roleArn, out entry!))
            {
                _entries[roleArn] = entry = new Entry();
            }
            var now = clock.GetUtcNow();
            if (entry.Current is { } current && current.Expiration - now > RefreshBefore)
            {
                return current;
            }
            if (entry.Pending is null)
            {
                if (entry.Failure is { } failure && now < entry.FailedUntil)
                {
                    return Usable(entry, now) ?? throw failure;
                }
                Interlocked.Increment(ref _assumeRoleCalls);
                entry.Pending = AssumeAsync(entry, account, roleArn);
            }
            pending = entry.Pending;
        }
        try
        {
            return await pending.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SpokeUnreachableException)
        {
            lock (_entries)
            {
                if (Usable(entry, clock.GetUtcNow()) is { } stillValid)
                {
                    return stillValid;
                }
            }
            throw;
        }
    }

    private static RoleCredentials? Usable(Entry entry, DateTimeOffset now) =>
        entry.Current is { } current && current.Expiration - now > MinimumLeft ? current : null;

    private async Task<RoleCredentials> AssumeAsync(Entry entry, string account, string roleArn)
    {
        await Task.Yield();
        try
        {
            var credentials = await assumer.AssumeAsync(roleArn, externalId, CancellationToken.None).ConfigureAwait(false);
            lock (_entries)
            {
                entry.Current = credentials;
                entry.Failure = null;
            }
            return credentials;
        }
        catch (Exception e) when (DependencyFailures.IsDependencyFailure(e))
        {
            var why = e is AmazonServiceException s ? $"{s.ErrorCode}: {s.Message}" : $"{e.GetType().Name}: {e.Message}";
            var failure = new SpokeUnreachableException(account, roleArn, why, e);
            lock (_entries)
            {
                entry.Failure = failure;
                entry.FailedUntil = clock.GetUtcNow() + FailureHold;
            }
            onUnreachable?.Invoke(failure);
            throw failure;
        }
        finally
        {
            // Whatever happened (a bug too), the next call after this one asks again rather than awaiting this one.
            lock (_entries)
            {
                entry.Pending = null;
            }
        }
    }

    private sealed class Entry
    {
        public RoleCredentials? Current;
        public Task<RoleCredentials>? Pending;
        public SpokeUnreachableException? Failure;
        public DateTimeOffset FailedUntil;
    }
}

/// <summary>The credentials a spoke client signs with: whatever <see cref="SpokeCredentials"/> last handed it.</summary>
internal sealed class HandedCredentials : AWSCredentials
{
    private volatile ImmutableCredentials? _current;

    public void Hand(RoleCredentials credentials)
    {
        if (_current?.AccessKey != credentials.AccessKeyId)
        {
            _current = new ImmutableCredentials(credentials.AccessKeyId, credentials.SecretAccessKey, credentials.SessionToken);
        }
    }

    public override ImmutableCredentials GetCredentials() =>
        _current ?? throw new InvalidOperationException("No spoke credentials were handed to this client yet.");
}
