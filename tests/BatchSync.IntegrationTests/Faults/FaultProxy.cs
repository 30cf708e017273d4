using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

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
}

/// <summary>One call seen by the proxy: who made it (as the harness labelled it), to what, and what befell it.</summary>
public sealed record ProxiedCall(string Caller, string Service, string Operation, FaultKind? Fault, string Body);

/// <summary>
/// A loopback HTTP/1.1 proxy between the functions and moto that, from a seed, answers a share of requests with
/// throttling, server errors, dropped connections (a TCP reset, before or after the service acted) or answers slower
/// than the client's timeout — per service and per operation. Bound to 127.0.0.1 on a free port; one request per
/// connection; stopped on Dispose.
/// </summary>
public sealed class FaultProxy : IDisposable
{
    private static readonly HashSet<string> HopHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Connection", "Content-Length", "Transfer-Encoding", "Keep-Alive", "Expect", "Proxy-Connection",
    };

    private readonly TcpListener _listener;
    private readonly HttpClient _upstream = new(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(60) };
    private readonly Uri _target;
    private readonly Random _random;
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

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

    /// <summary>Fault kinds allowed per "service:operation" (case-insensitive); others get every kind.</summary>
    public Dictionary<string, FaultKind[]> KindsByOperation { get; } = new(StringComparer.OrdinalIgnoreCase);

    public TimeSpan SlowAnswerDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Set by the harness to the function it is running, so calls can be laid beside that function's IAM policy.</summary>
    public string Caller { get; set; } = "";

    public bool Enabled { get; set; } = true;

    public ConcurrentQueue<ProxiedCall> Calls { get; } = new();

    public IReadOnlyDictionary<FaultKind, int> FaultCounts =>
        Calls.Where(c => c.Fault is not null).GroupBy(c => c.Fault!.Value).ToDictionary(g => g.Key, g => g.Count());

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(client));
        }
    }

    private async Task HandleAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var request = await ReadRequestAsync(stream).ConfigureAwait(false);
                if (request is null)
                {
                    return;
                }
                var service = ServiceOf(request.Headers.GetValueOrDefault("Authorization"));
                var operation = request.Headers.TryGetValue("X-Amz-Target", out var target)
                    ? target[(target.LastIndexOf('.') + 1)..]
                    : request.Path.Split('?')[0].TrimEnd('/').Split('/').Last();
                var fault = Decide(service, operation);
                Calls.Enqueue(new ProxiedCall(Caller, service, operation, fault, Encoding.UTF8.GetString(request.Body)));

                switch (fault)
                {
                    case FaultKind.Throttle:
                        await WriteAsync(stream, service == "batch" ? 429 : 400, [], Encoding.UTF8.GetBytes(ThrottleBody(service))).ConfigureAwait(false);
                        return;
                    case FaultKind.ServerError:
                        await WriteAsync(stream, 503, [], Encoding.UTF8.GetBytes(service == "dynamodb"
                            ? """{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected"}"""
                            : """{"__type":"ServiceUnavailableException","message":"injected"}""")).ConfigureAwait(false);
                        return;
                    case FaultKind.DropBefore:
                        Reset(client);
                        return;
                }

                using var upstream = await ForwardAsync(request).ConfigureAwait(false);
                var answer = await upstream.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
                if (fault == FaultKind.DropAfter)
                {
                    Reset(client);
                    return;
                }
                if (fault == FaultKind.SlowAnswer)
                {
                    await Task.Delay(SlowAnswerDelay).ConfigureAwait(false);
                }
                var headers = upstream.Headers.Concat(upstream.Content.Headers)
                    .Where(h => !HopHeaders.Contains(h.Key))
                    .Select(h => (h.Key, string.Join(",", h.Value)))
                    .ToList();
                await WriteAsync(stream, (int)upstream.StatusCode, headers, answer).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // the client went away (after its own timeout, say): nothing to answer
            }
        }
    }

    /// <summary>Closes with a TCP reset, so the client sees a dropped connection, not an answer.</summary>
    private static void Reset(TcpClient client)
    {
        client.Client.LingerState = new LingerOption(true, 0);
        client.Client.Close();
    }

    private sealed record RawRequest(string Method, string Path, Dictionary<string, string> Headers, byte[] Body);

    private static async Task<RawRequest?> ReadRequestAsync(NetworkStream stream)
    {
        var buffer = new List<byte>(4096);
        var one = new byte[1];
        while (buffer.Count < 4 || !(buffer[^4] == '\r' && buffer[^3] == '\n' && buffer[^2] == '\r' && buffer[^1] == '\n'))
        {
            if (await stream.ReadAsync(one).ConfigureAwait(false) == 0)
            {
                return null;
            }
            buffer.Add(one[0]);
        }
        var lines = Encoding.ASCII.GetString(buffer.ToArray()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var requestLine = lines[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            headers[name] = headers.TryGetValue(name, out var existing) ? existing + "," + value : value;
        }
        if (headers.TryGetValue("Expect", out var expect) && expect.Equals("100-continue", StringComparison.OrdinalIgnoreCase))
        {
            await stream.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray()).ConfigureAwait(false);
        }
        var length = headers.TryGetValue("Content-Length", out var l) ? int.Parse(l) : 0;
        var body = new byte[length];
        var read = 0;
        while (read < length)
        {
            var n = await stream.ReadAsync(body.AsMemory(read)).ConfigureAwait(false);
            if (n == 0)
            {
                return null;
            }
            read += n;
        }
        return new RawRequest(requestLine[0], requestLine[1], headers, body);
    }

    private static async Task WriteAsync(NetworkStream stream, int status, IEnumerable<(string Name, string Value)> headers, byte[] body)
    {
        var head = new StringBuilder($"HTTP/1.1 {status} {(HttpStatusCode)status}\r\n");
        var hasType = false;
        foreach (var (name, value) in headers)
        {
            head.Append(name).Append(": ").Append(value).Append("\r\n");
            hasType |= name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase);
        }
        if (!hasType)
        {
            head.Append("Content-Type: application/x-amz-json-1.0\r\n");
        }
        head.Append($"Content-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString())).ConfigureAwait(false);
        await stream.WriteAsync(body).ConfigureAwait(false);
        await stream.FlushAsync().ConfigureAwait(false);
    }

    private FaultKind? Decide(string service, string operation)
    {
        if (!Enabled || !Rates.TryGetValue(service, out var rate))
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

    private async Task<HttpResponseMessage> ForwardAsync(RawRequest request)
    {
        var message = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(_target, request.Path.TrimStart('/')))
        {
            Content = new ByteArrayContent(request.Body),
        };
        foreach (var (name, value) in request.Headers)
        {
            if (HopHeaders.Contains(name))
            {
                continue;
            }
            if (name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase))
            {
                message.Content.Headers.TryAddWithoutValidation(name, value);
            }
            else
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }
        }
        return await _upstream.SendAsync(message).ConfigureAwait(false);
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
