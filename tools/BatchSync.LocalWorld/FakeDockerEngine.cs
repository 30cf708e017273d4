using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace BatchSync.LocalWorld;

/// <summary>
/// The few Docker Engine API calls moto's Batch makes to run a job's container (version, create, start, inspect, logs,
/// wait, kill, remove), answered on a free 127.0.0.1 port without running anything. Start moto_server with
/// <c>DOCKER_HOST=tcp://127.0.0.1:&lt;port&gt;</c> (<see cref="DockerHost"/>) and keep Batch in its Docker mode: moto then walks
/// each job through its real state machine — SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING — and ends it SUCCEEDED
/// or FAILED by the container's exit code, or FAILED with the TerminateJob reason once it is terminated. Without an
/// engine moto fails every job at STARTING; in its simple mode it finishes every job at once (DEVELOPERS.md).
/// A container runs until <see cref="Exit"/> is called for it (the job's code "finishes") or moto kills it.
/// </summary>
public sealed class FakeDockerEngine : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentDictionary<string, FakeContainer> _containers = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _next;

    public FakeDockerEngine()
    {
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(AcceptAsync);
    }

    public int Port { get; }

    /// <summary>The DOCKER_HOST value that points docker clients (moto's) at this engine.</summary>
    public string DockerHost => $"tcp://127.0.0.1:{Port}";

    /// <summary>Raised when moto creates a job's container (it holds the job's environment, e.g. AWS_BATCH_JOB_ID).</summary>
    public event Action<FakeContainer>? Created;

    public IReadOnlyCollection<FakeContainer> Containers => _containers.Values.ToList();

    /// <summary>The container moto created for this Batch job, if any yet.</summary>
    public FakeContainer? ForJob(string jobId) => _containers.Values.FirstOrDefault(c => c.JobId == jobId);

    /// <summary>Ends the container: the job's code exited with this code (0: the job SUCCEEDS, other: it FAILS).</summary>
    public void Exit(FakeContainer container, int exitCode) => container.Finish(exitCode);

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        try
        {
            _loop.Wait(2000);
        }
        catch (AggregateException)
        {
        }
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
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }
            _ = Task.Run(() => Answer(context));
        }
    }

    private void Answer(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        try
        {
            string body;
            using (var reader = new StreamReader(request.InputStream, Encoding.UTF8))
            {
                body = reader.ReadToEnd();
            }
            // Paths are /v<api>/containers/<id>/<verb> (or unversioned for the version probe).
            var path = request.Url!.AbsolutePath;
            var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries).SkipWhile(p => p.StartsWith('v') && p.Length > 1 && char.IsDigit(p[1])).ToArray();
            var (status, answer) = (request.HttpMethod, parts) switch
            {
                ("GET", ["version"]) => (200, new JsonObject { ["ApiVersion"] = "1.43", ["MinAPIVersion"] = "1.12", ["Version"] = "24.0.0-batchsync-fake", ["Os"] = "linux", ["Arch"] = "amd64" }),
                ("GET" or "HEAD", ["_ping"]) => (200, null),
                ("GET", ["images", ..]) => (200, new JsonObject { ["Id"] = "sha256:fake", ["RepoTags"] = new JsonArray() }),
                ("POST", ["images", "create"]) => (200, new JsonObject { ["status"] = "pulled (fake)" }),
                ("POST", ["containers", "create"]) => (201, Create(body, request.QueryString["name"])),
                ("GET", ["containers", var id, "json"]) => Inspect(id),
                ("POST", ["containers", var id, "start"]) => With(id, c => c.Start()),
                ("POST", ["containers", var id, "wait"]) => Wait(id),
                ("POST", ["containers", var id, "kill"]) => With(id, c => c.Finish(137)),
                ("POST", ["containers", var id, "stop"]) => With(id, c => c.Finish(143)),
                ("GET", ["containers", var id, "logs"]) => With(id, _ => { }),
                ("DELETE", ["containers", var id]) => With(id, c => _containers.TryRemove(c.Id, out _)),
                _ => (404, new JsonObject { ["message"] = $"the fake engine does not answer {request.HttpMethod} {path}" }),
            };
            response.StatusCode = status;
            if (parts is ["containers", _, "logs"] && status == 200)
            {
                // No log lines: an empty multiplexed stream.
                response.ContentType = "application/vnd.docker.raw-stream";
                response.ContentLength64 = 0;
            }
            else if (answer is not null)
            {
                var bytes = Encoding.UTF8.GetBytes(answer.ToJsonString());
                response.ContentType = "application/json";
                response.ContentLength64 = bytes.Length;
                response.OutputStream.Write(bytes);
            }
            else
            {
                response.ContentLength64 = 0;
            }
        }
        catch (Exception e)
        {
            response.StatusCode = 500;
            var bytes = Encoding.UTF8.GetBytes(new JsonObject { ["message"] = e.Message }.ToJsonString());
            response.OutputStream.Write(bytes);
        }
        finally
        {
            response.Close();
        }
    }

    private JsonObject Create(string body, string? name)
    {
        var spec = JsonNode.Parse(body.Length == 0 ? "{}" : body)!.AsObject();
        var environment = (spec["Env"]?.AsArray() ?? []).Select(e => (string)e!).Select(e => e.Split('=', 2))
            .Where(p => p.Length == 2).GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.Last()[1]);
        var id = $"fake{Interlocked.Increment(ref _next):D4}";
        var container = new FakeContainer(id, name ?? id, (string?)spec["Image"] ?? "", environment);
        _containers[id] = container;
        Created?.Invoke(container);
        return new JsonObject { ["Id"] = id, ["Warnings"] = new JsonArray() };
    }

    private (int, JsonObject?) Inspect(string id) =>
        _containers.TryGetValue(id, out var c)
            ? (200, new JsonObject
            {
                ["Id"] = c.Id,
                ["Name"] = "/" + c.Name,
                ["Config"] = new JsonObject { ["Tty"] = false, ["Image"] = c.Image },
                ["State"] = new JsonObject
                {
                    ["Status"] = c.Status,
                    ["Running"] = c.Status == "running",
                    ["ExitCode"] = c.ExitCode ?? 0,
                },
                ["NetworkSettings"] = new JsonObject { ["IPAddress"] = "", ["Networks"] = new JsonObject() },
            })
            : NoSuch(id);

    private (int, JsonObject?) Wait(string id)
    {
        if (!_containers.TryGetValue(id, out var c))
        {
            return NoSuch(id);
        }
        c.Exited.Wait(_stop.Token);
        return (200, new JsonObject { ["StatusCode"] = c.ExitCode ?? 0 });
    }

    private (int, JsonObject?) With(string id, Action<FakeContainer> act)
    {
        if (!_containers.TryGetValue(id, out var c))
        {
            return NoSuch(id);
        }
        act(c);
        return (204, null);
    }

    private static (int, JsonObject?) NoSuch(string id) => (404, new JsonObject { ["message"] = $"No such container: {id}" });

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>A job's container as moto asked the fake engine for it.</summary>
public sealed class FakeContainer(string id, string name, string image, IReadOnlyDictionary<string, string> environment)
{
    private readonly object _gate = new();

    public string Id { get; } = id;
    public string Name { get; } = name;
    public string Image { get; } = image;
    public IReadOnlyDictionary<string, string> Environment { get; } = environment;

    /// <summary>The Batch job this container runs (moto sets AWS_BATCH_JOB_ID, as Batch does).</summary>
    public string? JobId => Environment.GetValueOrDefault("AWS_BATCH_JOB_ID");

    public string Status { get; private set; } = "created";
    public int? ExitCode { get; private set; }
    internal ManualResetEventSlim Exited { get; } = new();

    internal void Start()
    {
        lock (_gate)
        {
            if (Status == "created")
            {
                Status = "running";
            }
        }
    }

    internal void Finish(int exitCode)
    {
        lock (_gate)
        {
            if (ExitCode is not null)
            {
                return;
            }
            ExitCode = exitCode;
            Status = "exited";
        }
        Exited.Set();
    }
}
