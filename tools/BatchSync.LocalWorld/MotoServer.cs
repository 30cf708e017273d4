using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace BatchSync.LocalWorld;

/// <summary>
/// A moto_server on a free 127.0.0.1 port, started for the tests or the playground and stopped after them. moto is our
/// stand-in for AWS (Batch, Step Functions with a real ASL interpreter, EventBridge, DynamoDB, SQS, Lambda).
/// </summary>
public sealed class MotoServer : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public MotoServer(IReadOnlyDictionary<string, string>? environment = null)
    {
        var executable = Environment.GetEnvironmentVariable("MOTO_SERVER") ?? "moto_server";
        Port = FreePort();
        var start = new ProcessStartInfo(executable, ["-H", "127.0.0.1", "-p", Port.ToString()])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        // moto's Step Functions interpreter calls its own Lambda at localhost:MOTO_PORT.
        start.Environment["MOTO_PORT"] = Port.ToString();
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        try
        {
            _process = Process.Start(start) ?? throw new InvalidOperationException("moto_server did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                $"moto_server was not found ({e.Message}). The local world needs moto 5: run the README's test or try command " +
                "(they install moto when absent) or `pip install 'moto[server]==5.2.1'`.", e);
        }
        _process.ErrorDataReceived += (_, e) => { lock (_log) { _log.AppendLine(e.Data); } };
        _process.OutputDataReceived += (_, e) => { lock (_log) { _log.AppendLine(e.Data); } };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        Endpoint = $"http://127.0.0.1:{Port}";
        WaitUntilReady();
    }

    public int Port { get; }
    public string Endpoint { get; }

    public string Log { get { lock (_log) { return _log.ToString(); } } }

    public void Post(string path, string json)
    {
        using var response = Http.PostAsync(Endpoint + path, new StringContent(json, Encoding.UTF8, "application/json")).GetAwaiter().GetResult();
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Batch jobs finish at once, Lambda invocations are canned, state machines really run.</summary>
    public void UseSimpleModes() =>
        Post("/moto-api/config", """{"batch":{"use_docker":false},"lambda":{"use_docker":false},"stepfunctions":{"execute_state_machine":true}}""");

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        finally
        {
            _process.Dispose();
        }
    }

    private void WaitUntilReady()
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"moto_server exited with code {_process.ExitCode}: {Log}");
            }
            try
            {
                using var response = Http.GetAsync(Endpoint + "/moto-api/").GetAwaiter().GetResult();
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            Thread.Sleep(100);
        }
        Dispose();
        throw new TimeoutException($"moto_server did not answer on {Endpoint} within 60 s: {Log}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
