using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BatchSync.Playground;

/// <summary>What the playground prints: setup steps, then one timestamped line per thing that happened.</summary>
public sealed class Timeline
{
    private readonly object _gate = new();
    private readonly Stopwatch _clock = new();

    public void Section(string title)
    {
        lock (_gate)
        {
            Console.WriteLine();
            Console.WriteLine($"== {title}");
        }
    }

    public void Note(string text)
    {
        lock (_gate)
        {
            Console.WriteLine($"   {text}");
        }
    }

    public void StartClock() => _clock.Restart();

    public void Line(string who, string what)
    {
        lock (_gate)
        {
            Console.WriteLine($"  {"+" + _clock.Elapsed.TotalSeconds.ToString("0.0") + "s",7}  {who,-15} {what}");
        }
    }

    public void Block(string text)
    {
        lock (_gate)
        {
            Console.WriteLine(text);
        }
    }
}

/// <summary>A function's log sink: keeps its JSON lines, and prints their messages when asked to.</summary>
public sealed class FunctionLog(string function, Timeline timeline, bool show) : TextWriter
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly StringBuilder _partial = new();

    public override Encoding Encoding => Encoding.UTF8;

    public IReadOnlyCollection<string> Lines => _lines;

    public override void WriteLine(string? value)
    {
        value ??= "";
        _lines.Enqueue(value);
        if (show)
        {
            try
            {
                var line = JsonNode.Parse(value)!;
                timeline.Line("", $"  log {function} {(string?)line["level"]}: {(string?)line["message"]}");
            }
            catch (JsonException)
            {
                timeline.Line("", $"  log {function}: {value}");
            }
        }
    }

    public override void Write(char value)
    {
        if (value == '\n')
        {
            WriteLine(_partial.ToString().TrimEnd('\r'));
            _partial.Clear();
        }
        else
        {
            _partial.Append(value);
        }
    }
}

/// <summary>
/// A loopback pass-through in front of Step Functions (the functions get <c>AWS_ENDPOINT_URL_SFN</c> pointing here), so
/// the timeline shows what BatchSync really sent: each SendTaskHeartbeat, SendTaskSuccess and SendTaskFailure, with
/// the answer it got. Everything is forwarded unchanged.
/// </summary>
public sealed class WireRecorder : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly HttpClient _http = new(new HttpClientHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(60) };
    private readonly string _target;
    private readonly CancellationTokenSource _stop = new();

    public WireRecorder(string target)
    {
        _target = target.TrimEnd('/');
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _ = Task.Run(AcceptAsync);
    }

    public int Port { get; }
    public string Endpoint => $"http://127.0.0.1:{Port}";

    public ConcurrentQueue<WireCall> Calls { get; } = new();

    public event Action<WireCall>? Recorded;

    /// <summary>
    /// When set, each call's signer is looked up before it is recorded (<see cref="WireCall.Caller"/>): the spoke
    /// scenario shows which account's role answered a task. Given the call's signing headers.
    /// </summary>
    public Func<IReadOnlyDictionary<string, string>, Task<string?>>? ResolveCaller { get; set; }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        _http.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested || !_listener.IsListening)
            {
                return;
            }
            _ = Task.Run(() => ForwardAsync(context));
        }
    }

    /// <summary>"AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...": the region.</summary>
    private static string? SigningRegionOf(string? authorization)
    {
        var scope = authorization is null ? null : System.Text.RegularExpressions.Regex.Match(authorization, @"Credential=[^/]+/[^/]+/(?<region>[^/]+)/");
        return scope is { Success: true } ? scope.Groups["region"].Value : null;
    }

    private async Task ForwardAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        try
        {
            using var body = new MemoryStream();
            await request.InputStream.CopyToAsync(body);
            using var forward = new HttpRequestMessage(new HttpMethod(request.HttpMethod), _target + request.Url!.PathAndQuery)
            {
                Content = new ByteArrayContent(body.ToArray()),
            };
            foreach (var name in request.Headers.AllKeys.OfType<string>())
            {
                if (name is "Host" or "Content-Length" or "Connection" or "Expect" or "Transfer-Encoding")
                {
                    continue;
                }
                var value = request.Headers[name]!;
                if (!forward.Headers.TryAddWithoutValidation(name, value))
                {
                    forward.Content.Headers.TryAddWithoutValidation(name, value);
                }
            }
            using var answer = await _http.SendAsync(forward);
            var bytes = await answer.Content.ReadAsByteArrayAsync();
            var target = request.Headers["X-Amz-Target"] ?? "";
            var operation = target.Contains('.') ? target[(target.LastIndexOf('.') + 1)..] : target;
            var signing = new[] { "Authorization", "X-Amz-Security-Token", "X-Amz-Date" }
                .Where(n => request.Headers[n] is not null)
                .ToDictionary(n => n, n => request.Headers[n]!);
            var call = new WireCall(operation, Encoding.UTF8.GetString(body.ToArray()), (int)answer.StatusCode, Encoding.UTF8.GetString(bytes))
            {
                SigningRegion = SigningRegionOf(signing.GetValueOrDefault("Authorization")),
                Caller = ResolveCaller is { } resolve ? await resolve(signing) : null,
            };
            Calls.Enqueue(call);
            Recorded?.Invoke(call);
            response.StatusCode = (int)answer.StatusCode;
            if (answer.Content.Headers.ContentType is { } type)
            {
                response.ContentType = type.ToString();
            }
            response.ContentLength64 = bytes.Length;
            await response.OutputStream.WriteAsync(bytes);
        }
        catch (Exception e)
        {
            response.StatusCode = 502;
            var bytes = Encoding.UTF8.GetBytes(e.Message);
            response.ContentLength64 = bytes.Length;
            await response.OutputStream.WriteAsync(bytes);
        }
        finally
        {
            response.Close();
        }
    }
}

/// <summary>One call BatchSync made to Step Functions, and its answer.</summary>
public sealed record WireCall(string Operation, string RequestBody, int Status, string ResponseBody)
{
    /// <summary>The region the call was signed for (SigV4 credential scope): where Step Functions took it.</summary>
    public string? SigningRegion { get; init; }

    /// <summary>Who signed it (an ARN), when the recorder was asked to find out (<see cref="WireRecorder.ResolveCaller"/>).</summary>
    public string? Caller { get; init; }

    public JsonObject Request => JsonNode.Parse(RequestBody.Length == 0 ? "{}" : RequestBody)!.AsObject();

    /// <summary>The error code of a refused call (the awsJson <c>__type</c>, after any '#').</summary>
    public string? ErrorCode
    {
        get
        {
            if (Status < 300)
            {
                return null;
            }
            try
            {
                var type = (string?)JsonNode.Parse(ResponseBody)?["__type"];
                return type?[(type.LastIndexOf('#') + 1)..] ?? $"HTTP {Status}";
            }
            catch (JsonException)
            {
                return $"HTTP {Status}";
            }
        }
    }
}

/// <summary>Things to stop when the playground ends, however it ends (normal end, failure, Ctrl-C, SIGTERM).</summary>
public sealed class Cleanup
{
    private readonly Stack<IDisposable> _items = new();
    private readonly object _gate = new();
    private bool _done;

    public T Add<T>(T item) where T : IDisposable
    {
        lock (_gate)
        {
            if (_done)
            {
                item.Dispose();
                throw new OperationCanceledException("The playground is stopping.");
            }
            _items.Push(item);
        }
        return item;
    }

    public void Remove(IDisposable item)
    {
        lock (_gate)
        {
            var kept = _items.Where(i => !ReferenceEquals(i, item)).Reverse().ToList();
            _items.Clear();
            kept.ForEach(_items.Push);
        }
    }

    public void Run()
    {
        lock (_gate)
        {
            _done = true;
            while (_items.TryPop(out var item))
            {
                try
                {
                    item.Dispose();
                }
                catch (Exception e)
                {
                    Console.Error.WriteLine($"cleanup: {e.Message}");
                }
            }
        }
    }
}

/// <summary>A child process (the build) that the cleanup kills if the playground is interrupted.</summary>
public sealed class ChildProcess(Process process) : IDisposable
{
    public void Dispose()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }
}
