using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BatchSync.IntegrationTests.Faults;

public enum FaultKind
{
    /// <summary>429/400 throttling answer; the request never reaches the service.</summary>
    Throttle,
    /// <summary>500 or 503; the request never reaches the service.</summary>
    ServerError,
    /// <summary>The connection is dropped before the request reaches the service.</summary>
    DropBefore,
    /// <summary>The service does the work, then the connection is dropped: the caller cannot know.</summary>
    DropAfter,
    /// <summary>The service does the work, and answers after the caller's timeout.</summary>
    SlowAnswer,
    /// <summary>The service does the work, then the caller gets a 500 instead of its answer.</summary>
    ServerErrorAfter,
}

/// <summary>One call seen by the proxy: who made it (as the harness labelled it), to what, and what befell it.</summary>
public sealed class ProxiedCall(string caller, string service, string operation, FaultKind? fault, string body)
{
    public string Caller { get; } = caller;
    public string Service { get; } = service;
    public string Operation { get; } = operation;
    public FaultKind? Fault { get; } = fault;
    public string Body { get; } = body;
    /// <summary>When the proxy took the call.</summary>
    public DateTime At { get; } = DateTime.UtcNow;
    /// <summary>For Step Functions task-token calls: the token the function sent.</summary>
    public string? Token { get; set; }
    /// <summary>The status the service answered (null when the request never reached it).</summary>
    public int? UpstreamStatus { get; set; }
    /// <summary>True when the proxy answered as Step Functions would for a dead token (TaskTimedOut), without moto.</summary>
    public bool AnsweredDeadToken { get; set; }
}

/// <summary>
/// Task tokens as Step Functions gives them: each attempt of a state (a state-level Retry) gets a new token, and a token
/// is dead once its attempt ended or a terminal answer was accepted for it — AWS then answers TaskTimedOut ("Task Timed
/// Out: 'Provided task does not exist anymore'"). moto reuses one token across retries and answers InvalidToken, so the
/// harness hands the functions a token per attempt from here, and the proxy maps it to moto's and answers for dead ones.
/// </summary>
public sealed class TokenBook
{
    private readonly ConcurrentDictionary<string, string> _real = new();
    private readonly ConcurrentDictionary<string, bool> _dead = new();

    /// <summary>The token of attempt <paramref name="attempt"/> of the task moto knows as <paramref name="realToken"/>.</summary>
    public string Issue(string realToken, int attempt)
    {
        var token = $"{realToken}-attempt-{attempt}";
        _real[token] = realToken;
        return token;
    }

    public bool Knows(string token) => _real.ContainsKey(token);
    public string RealOf(string token) => _real[token];
    public void Kill(string token) => _dead[token] = true;
    public bool IsDead(string token) => _dead.ContainsKey(token);
    public IEnumerable<string> Issued => _real.Keys;
}

/// <summary>
/// A loopback HTTP/1.1 proxy between the functions and moto that, from a seed, answers a share of requests with
/// throttling, server errors, dropped connections (a TCP reset, before or after the service acted) or answers slower
/// than the client's timeout — per service and per operation. Bound to 127.0.0.1 on a free port; one request per
/// connection; stopped on Dispose.
/// </summary>
public sealed class FaultProxy : IDisposable
{
    private readonly TcpListener _listener;
    private readonly HttpClient _upstream = new(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(60) };
    private readonly Uri _target;
    private readonly Random _random;
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _taskLocks = new(StringComparer.Ordinal);

    public FaultProxy(string targetEndpoint, int seed)
    {
        _target = new Uri(targetEndpoint.TrimEnd('/') + "/");
        _random = new Random(seed);
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _loop = Task.Run(AcceptAsync);
    }

    public int Port { get; }
    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>Share of requests (0..1) that get a fault, per service signing name ("batch", "states", "dynamodb").</summary>
    public Dictionary<string, double> Rates { get; } = new(StringComparer.Ordinal);

    /// <summary>Share of requests that get a fault per "service:operation" (case-insensitive), over the service's rate.</summary>
    public Dictionary<string, double> RatesByOperation { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Fault kinds allowed per "service:operation" (case-insensitive); others get every kind.</summary>
    public Dictionary<string, FaultKind[]> KindsByOperation { get; } = new(StringComparer.OrdinalIgnoreCase);

    public TimeSpan SlowAnswerDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Held before forwarding, per "service:operation" (case-insensitive): e.g. a slow SubmitJob, so duplicates overlap.</summary>
    public Dictionary<string, TimeSpan> Delays { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// How long a freshly submitted job stays out of ListJobs and DescribeJobs answers (Batch's lists may lag a submit;
    /// moto's never do).
    /// </summary>
    public TimeSpan ListingLag { get; set; }

    public TokenBook Tokens { get; } = new();

    /// <summary>
    /// Job statuses DescribeJobs answers with instead of moto's, per job id: keeps a job RUNNING for as long as a test's
    /// simulated time says (moto's simple Batch finishes every job at once).
    /// </summary>
    public ConcurrentDictionary<string, string> StatusOverrides { get; } = new();

    private readonly ConcurrentDictionary<string, DateTime> _submittedAt = new();

    /// <summary>Set by the harness to the function it is running, so calls can be laid beside that function's IAM policy.</summary>
    public string Caller { get; set; } = "";

    public bool Enabled { get; set; } = true;

    public ConcurrentQueue<ProxiedCall> Calls { get; } = new();

    public IReadOnlyDictionary<FaultKind, int> FaultCounts =>
        Calls.Where(c => c.Fault is not null).GroupBy(c => c.Fault!.Value).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>Accepts that failed (the proxy went on listening).</summary>
    public int AcceptFailures;

    // A failed accept (a connection reset before it was taken, say) must not stop the proxy for good.
    private Task AcceptAsync() => RawHttp.AcceptAsync(_listener, HandleAsync, _stop.Token, () => Interlocked.Increment(ref AcceptFailures));

    private async Task HandleAsync(TcpClient client)
    {
        SemaphoreSlim? taskLock = null;
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var request = await RawHttp.ReadRequestAsync(stream).ConfigureAwait(false);
                if (request is null)
                {
                    return;
                }
                var service = ServiceOf(request.Headers.GetValueOrDefault("Authorization"));
                var operation = request.Headers.TryGetValue("X-Amz-Target", out var target)
                    ? target[(target.LastIndexOf('.') + 1)..]
                    : request.Path.Split('?')[0].TrimEnd('/').Split('/').Last();
                var fault = Decide(service, operation);
                var call = new ProxiedCall(Caller, service, operation, fault, Encoding.UTF8.GetString(request.Body));
                Calls.Enqueue(call);

                switch (fault)
                {
                    case FaultKind.Throttle:
                        await RawHttp.WriteAsync(stream, service == "batch" ? 429 : 400, [], Encoding.UTF8.GetBytes(ThrottleBody(service)), "application/x-amz-json-1.0").ConfigureAwait(false);
                        return;
                    case FaultKind.ServerError:
                        await RawHttp.WriteAsync(stream, 503, [], Encoding.UTF8.GetBytes(ServerErrorBody(service)), "application/x-amz-json-1.0").ConfigureAwait(false);
                        return;
                    case FaultKind.DropBefore:
                        Reset(client);
                        return;
                }
                if (Delays.TryGetValue($"{service}:{operation}", out var delay))
                {
                    await Task.Delay(delay).ConfigureAwait(false);
                }
                if (await PlayTransactionAsync(service, operation, request).ConfigureAwait(false) is { } played)
                {
                    call.UpstreamStatus = played.Status;
                    await RawHttp.WriteAsync(stream, played.Status, [("Content-Type", "application/x-amz-json-1.0")], played.Body, "application/x-amz-json-1.0").ConfigureAwait(false);
                    return;
                }
                if (SyntheticDescribe(service, operation, request.Body) is { } described)
                {
                    call.UpstreamStatus = 200;
                    await RawHttp.WriteAsync(stream, 200, [("Content-Type", "application/json")], described, "application/x-amz-json-1.0").ConfigureAwait(false);
                    return;
                }

                var terminal = service == "states" && operation is "SendTaskSuccess" or "SendTaskFailure";
                if (service == "states" && operation.StartsWith("SendTask", StringComparison.Ordinal) && TokenOf(request.Body) is { } token && Tokens.Knows(token))
                {
                    call.Token = token;
                    // Step Functions takes the calls on one task one at a time: a heartbeat sent while an answer is
                    // still being taken sees the task as that answer leaves it (moto, under load, may interleave them).
                    taskLock = _taskLocks.GetOrAdd(Tokens.RealOf(token), _ => new SemaphoreSlim(1, 1));
                    await taskLock.WaitAsync().ConfigureAwait(false);
                    if (Tokens.IsDead(token))
                    {
                        call.AnsweredDeadToken = true;
                        call.UpstreamStatus = 400;
                        await RawHttp.WriteAsync(stream, 400, [("X-Amzn-ErrorType", "TaskTimedOut")], Encoding.UTF8.GetBytes(
                            """{"__type":"com.amazonaws.swf.service.v2.model#TaskTimedOut","message":"Task Timed Out: 'Provided task does not exist anymore'"}"""),
                            "application/x-amz-json-1.0").ConfigureAwait(false);
                        return;
                    }
                    request = request with { Body = WithToken(request.Body, Tokens.RealOf(token)) };
                }

                using var upstream = await RawHttp.ForwardAsync(_upstream, _target, request).ConfigureAwait(false);
                var answer = await upstream.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
                call.UpstreamStatus = (int)upstream.StatusCode;
                if (terminal && call.Token is { } answered && upstream.IsSuccessStatusCode)
                {
                    Tokens.Kill(answered); // the task took its answer: the token is dead from now on
                }
                if (taskLock is not null)
                {
                    taskLock.Release();
                    taskLock = null;
                }
                if (service == "batch" && upstream.IsSuccessStatusCode && ListingLag > TimeSpan.Zero)
                {
                    answer = ApplyListingLag(operation, answer);
                }
                if (service == "batch" && upstream.IsSuccessStatusCode && !StatusOverrides.IsEmpty && operation.Equals("describejobs", StringComparison.OrdinalIgnoreCase))
                {
                    answer = ApplyStatusOverrides(answer);
                }
                switch (fault)
                {
                    case FaultKind.DropAfter:
                        Reset(client);
                        return;
                    case FaultKind.ServerErrorAfter:
                        await RawHttp.WriteAsync(stream, 500, [], Encoding.UTF8.GetBytes(ServerErrorBody(service)), "application/x-amz-json-1.0").ConfigureAwait(false);
                        return;
                    case FaultKind.SlowAnswer:
                        await Task.Delay(SlowAnswerDelay).ConfigureAwait(false);
                        break;
                }
                var headers = upstream.Headers.Concat(upstream.Content.Headers)
                    .Where(h => !RawHttp.HopHeaders.Contains(h.Key))
                    .Select(h => (h.Key, string.Join(",", h.Value)))
                    .ToList();
                await RawHttp.WriteAsync(stream, (int)upstream.StatusCode, headers, answer, "application/x-amz-json-1.0").ConfigureAwait(false);
            }
            catch (Exception)
            {
                // the client went away (after its own timeout, say): nothing to answer
            }
            finally
            {
                taskLock?.Release();
            }
        }
    }

    private static string ServerErrorBody(string service) => service == "dynamodb"
        ? """{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected"}"""
        : """{"__type":"ServiceUnavailableException","message":"injected"}""";

    private static string? TokenOf(byte[] body)
    {
        try
        {
            return JsonNode.Parse(body)?["taskToken"]?.GetValue<string>();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static byte[] WithToken(byte[] body, string token)
    {
        var json = JsonNode.Parse(body)!.AsObject();
        json["taskToken"] = token;
        return Encoding.UTF8.GetBytes(json.ToJsonString());
    }

    /// <summary>Notes fresh submits, and leaves jobs younger than <see cref="ListingLag"/> out of list and describe answers.</summary>
    private byte[] ApplyListingLag(string operation, byte[] answer)
    {
        var json = JsonNode.Parse(answer) as JsonObject;
        if (json is null)
        {
            return answer;
        }
        switch (operation.ToLowerInvariant())
        {
            case "submitjob":
                _submittedAt[(string)json["jobId"]!] = DateTime.UtcNow;
                return answer;
            case "describejobs" or "listjobs":
                var member = operation.Equals("listjobs", StringComparison.OrdinalIgnoreCase) ? "jobSummaryList" : "jobs";
                if (json[member] is not JsonArray jobs)
                {
                    return answer;
                }
                var fresh = jobs.Where(j => _submittedAt.TryGetValue((string)j!["jobId"]!, out var at) && DateTime.UtcNow - at < ListingLag).ToList();
                if (fresh.Count == 0)
                {
                    return answer;
                }
                foreach (var job in fresh)
                {
                    jobs.Remove(job);
                }
                HiddenByLag += fresh.Count;
                return Encoding.UTF8.GetBytes(json.ToJsonString());
            default:
                return answer;
        }
    }

    private byte[] ApplyStatusOverrides(byte[] answer)
    {
        if (JsonNode.Parse(answer) is not JsonObject { } json || json["jobs"] is not JsonArray jobs)
        {
            return answer;
        }
        foreach (var job in jobs.OfType<JsonObject>())
        {
            if (StatusOverrides.TryGetValue((string)job["jobId"]!, out var status))
            {
                job["status"] = status;
            }
        }
        return Encoding.UTF8.GetBytes(json.ToJsonString());
    }

    /// <summary>How many job entries the listing lag kept out of answers.</summary>
    public int HiddenByLag;

    /// <summary>Closes with a TCP reset, so the client sees a dropped connection, not an answer.</summary>
    private static void Reset(TcpClient client)
    {
        client.Client.LingerState = new LingerOption(true, 0);
        client.Client.Close();
    }

    /// <summary>
    /// Caps a service's (or "service:operation"'s) rate as AWS's API quotas do: a token bucket with a burst of one
    /// second's worth; beyond it, calls are throttled (ThrottlingException) and the service does nothing.
    /// </summary>
    public void LimitRate(string key, double perSecond) => _limits[key] = new RateLimit(perSecond);

    /// <summary>Throttles every call to a service (or "service:operation") from now for <paramref name="duration"/>: a burst.</summary>
    public void ThrottleFor(string key, TimeSpan duration) => _throttledUntil[key] = DateTime.UtcNow + duration;

    /// <summary>
    /// Jobs the proxy describes itself, by id (Batch's wire JobDetail): DescribeJobs of only such ids is answered here,
    /// so a test can hold thousands of open tasks without submitting thousands of jobs to moto.
    /// </summary>
    public ConcurrentDictionary<string, JsonObject> SyntheticJobs { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Plays a TransactWriteItems of conditional updates as one UpdateItem per action against moto (whose transactions
    /// deep-copy the table for their rollback: 0.8 s for 25 actions over 1,500 items, measured on moto 5.2.1, where AWS
    /// takes milliseconds). The caller still makes one call and sees one answer; what is not modelled is atomicity: a
    /// failed condition answers TransactionCanceledException with its reasons after the other actions were applied.
    /// BatchSync's reschedules need none (each record's update stands alone, and a cancelled one is written again one
    /// record at a time).
    /// </summary>
    public bool PlayTransactionsAsUpdates { get; set; }

    private async Task<(int Status, byte[] Body)?> PlayTransactionAsync(string service, string operation, RawRequest request)
    {
        if (!PlayTransactionsAsUpdates || service != "dynamodb" || operation != "TransactWriteItems"
            || JsonNode.Parse(request.Body)?["TransactItems"] is not JsonArray items || items.Any(i => i?["Update"] is null))
        {
            return null;
        }
        var reasons = new JsonArray();
        var cancelled = false;
        foreach (var item in items)
        {
            var update = item!["Update"]!.DeepClone();
            var headers = new Dictionary<string, string>(request.Headers, StringComparer.OrdinalIgnoreCase) { ["X-Amz-Target"] = "DynamoDB_20120810.UpdateItem" };
            using var answer = await RawHttp.ForwardAsync(_upstream, _target, request with { Headers = headers, Body = Encoding.UTF8.GetBytes(update.ToJsonString()) }).ConfigureAwait(false);
            var text = await answer.Content.ReadAsStringAsync().ConfigureAwait(false);
            if (answer.IsSuccessStatusCode)
            {
                reasons.Add(new JsonObject { ["Code"] = "None" });
            }
            else if (text.Contains("ConditionalCheckFailed", StringComparison.Ordinal))
            {
                cancelled = true;
                reasons.Add(new JsonObject { ["Code"] = "ConditionalCheckFailed", ["Message"] = "The conditional request failed" });
            }
            else
            {
                return ((int)answer.StatusCode, Encoding.UTF8.GetBytes(text));
            }
        }
        return cancelled
            ? (400, Encoding.UTF8.GetBytes(new JsonObject
            {
                ["__type"] = "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                ["Message"] = "Transaction cancelled, please refer cancellation reasons for specific reasons",
                ["CancellationReasons"] = reasons,
            }.ToJsonString()))
            : (200, "{}"u8.ToArray());
    }

    private readonly ConcurrentDictionary<string, RateLimit> _limits = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, DateTime> _throttledUntil = new(StringComparer.OrdinalIgnoreCase);

    private sealed class RateLimit(double rate)
    {
        private readonly double _perSecond = rate;
        private double _tokens = rate;
        private DateTime _at = DateTime.UtcNow;

        public bool TryTake()
        {
            lock (this)
            {
                var now = DateTime.UtcNow;
                _tokens = Math.Min(_perSecond, _tokens + (now - _at).TotalSeconds * _perSecond);
                _at = now;
                if (_tokens < 1)
                {
                    return false;
                }
                _tokens -= 1;
                return true;
            }
        }
    }

    private bool OverQuota(string service, string operation)
    {
        foreach (var key in new[] { service, $"{service}:{operation}" })
        {
            if (_throttledUntil.TryGetValue(key, out var until) && DateTime.UtcNow < until)
            {
                return true;
            }
            if (_limits.TryGetValue(key, out var limit) && !limit.TryTake())
            {
                return true;
            }
        }
        return false;
    }

    private byte[]? SyntheticDescribe(string service, string operation, byte[] body)
    {
        if (service != "batch" || SyntheticJobs.IsEmpty || !operation.Equals("describejobs", StringComparison.OrdinalIgnoreCase)
            || JsonNode.Parse(body)?["jobs"] is not JsonArray ids || ids.Count == 0)
        {
            return null;
        }
        var jobs = new JsonArray();
        foreach (var id in ids)
        {
            if (!SyntheticJobs.TryGetValue((string)id!, out var job))
            {
                return null; // a real job among them: moto answers
            }
            jobs.Add(job.DeepClone());
        }
        return Encoding.UTF8.GetBytes(new JsonObject { ["jobs"] = jobs }.ToJsonString());
    }

    private FaultKind? Decide(string service, string operation)
    {
        if (Enabled && OverQuota(service, operation))
        {
            return FaultKind.Throttle;
        }
        if (!Enabled || !(RatesByOperation.TryGetValue($"{service}:{operation}", out var rate) || Rates.TryGetValue(service, out rate)))
        {
            return null;
        }
        var kinds = KindsByOperation.TryGetValue($"{service}:{operation}", out var allowed) ? allowed : Enum.GetValues<FaultKind>();
        lock (_gate)
        {
            if (_random.NextDouble() >= rate)
            {
                return null;
            }
            return kinds[_random.Next(kinds.Length)];
        }
    }

    private static string ThrottleBody(string service) => service switch
    {
        "batch" => """{"__type":"TooManyRequestsException","message":"Too Many Requests (injected)"}""",
        "dynamodb" => """{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput (injected)"}""",
        _ => """{"__type":"ThrottlingException","message":"Rate exceeded (injected)"}""",
    };

    /// <summary>The signing name in the SigV4 credential scope: Credential=AKID/date/region/SERVICE/aws4_request.</summary>
    public static string ServiceOf(string? authorization)
    {
        var start = authorization?.IndexOf("Credential=", StringComparison.Ordinal) ?? -1;
        if (start < 0)
        {
            return "unknown";
        }
        var scope = authorization![(start + "Credential=".Length)..].Split(',')[0].Split('/');
        return scope.Length >= 4 ? scope[3] : "unknown";
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        _upstream.Dispose();
    }
}
