using System.Net;
using System.Net.Sockets;
using System.Text;

namespace BatchSync.LocalWorld;

/// <summary>An HTTP request as a loopback stand-in read it off the socket.</summary>
public sealed record RawRequest(string Method, string Path, Dictionary<string, string> Headers, byte[] Body);

/// <summary>
/// The raw HTTP/1.1 the local world's loopback stand-ins share (StsGate, the fault proxy): read a request off a socket,
/// forward it upstream, write an answer. Raw sockets rather than HttpListener, so a stand-in can also drop a connection
/// with a real TCP reset.
/// </summary>
public static class RawHttp
{
    /// <summary>Headers that belong to one connection and are not forwarded.</summary>
    public static readonly IReadOnlySet<string> HopHeaders = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Connection", "Content-Length", "Transfer-Encoding", "Keep-Alive", "Expect", "Proxy-Connection",
    };

    /// <summary>Takes connections until <paramref name="stop"/>, each handled on its own; a failed accept is noted and the loop goes on.</summary>
    public static async Task AcceptAsync(TcpListener listener, Func<TcpClient, Task> handle, CancellationToken stop, Action? onFailedAccept = null)
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(stop).ConfigureAwait(false);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                onFailedAccept?.Invoke();
                continue;
            }
            _ = Task.Run(() => handle(client));
        }
    }

    /// <summary>Reads one request off the connection and hands it to <paramref name="answer"/>; a client gone away ends it quietly.</summary>
    public static async Task ServeAsync(TcpClient client, Func<NetworkStream, RawRequest, Task> answer)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                if (await ReadRequestAsync(stream).ConfigureAwait(false) is { } request)
                {
                    await answer(stream, request).ConfigureAwait(false);
                }
            }
            catch (Exception)
            {
                // the client went away: nothing to answer
            }
        }
    }

    /// <summary>Forwards the request to <paramref name="target"/> and writes its answer back, as it came.</summary>
    public static async Task RelayAsync(NetworkStream stream, HttpClient upstream, Uri target, RawRequest request)
    {
        using var answer = await ForwardAsync(upstream, target, request).ConfigureAwait(false);
        var body = await answer.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
        await WriteAsync(stream, (int)answer.StatusCode, AnswerHeaders(answer), body).ConfigureAwait(false);
    }

    /// <summary>An upstream answer's headers, but the hop-by-hop ones.</summary>
    public static List<(string Name, string Value)> AnswerHeaders(HttpResponseMessage answer) =>
        answer.Headers.Concat(answer.Content.Headers)
            .Where(h => !HopHeaders.Contains(h.Key))
            .Select(h => (h.Key, string.Join(",", h.Value)))
            .ToList();

    /// <summary>The request, as it came, to <paramref name="target"/> (hop-by-hop headers left out).</summary>
    public static async Task<HttpResponseMessage> ForwardAsync(HttpClient upstream, Uri target, RawRequest request)
    {
        var message = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(target, request.Path.TrimStart('/')))
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
        return await upstream.SendAsync(message).ConfigureAwait(false);
    }

    /// <summary>One HTTP/1.1 request (Content-Length or chunked body; answers Expect: 100-continue); null when the client left.</summary>
    public static async Task<RawRequest?> ReadRequestAsync(NetworkStream stream)
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
        byte[] body;
        if (headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = await ReadChunkedAsync(stream).ConfigureAwait(false);
        }
        else
        {
            var length = headers.TryGetValue("Content-Length", out var l) ? int.Parse(l) : 0;
            body = new byte[length];
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
        }
        return new RawRequest(requestLine[0], requestLine[1], headers, body);
    }

    private static async Task<byte[]> ReadChunkedAsync(NetworkStream stream)
    {
        var body = new MemoryStream();
        while (true)
        {
            var sizeLine = await ReadLineAsync(stream).ConfigureAwait(false);
            var size = Convert.ToInt32(sizeLine.Split(';')[0].Trim(), 16);
            if (size == 0)
            {
                while ((await ReadLineAsync(stream).ConfigureAwait(false)).Length > 0)
                {
                }
                return body.ToArray();
            }
            var chunk = new byte[size];
            await stream.ReadExactlyAsync(chunk).ConfigureAwait(false);
            body.Write(chunk);
            await ReadLineAsync(stream).ConfigureAwait(false);
        }
    }

    private static async Task<string> ReadLineAsync(NetworkStream stream)
    {
        var line = new List<byte>();
        var one = new byte[1];
        while (await stream.ReadAsync(one).ConfigureAwait(false) == 1)
        {
            if (one[0] == '\n')
            {
                break;
            }
            if (one[0] != '\r')
            {
                line.Add(one[0]);
            }
        }
        return Encoding.ASCII.GetString(line.ToArray());
    }

    /// <summary>One answer, then the connection closes; <paramref name="defaultContentType"/> when the headers name none.</summary>
    public static async Task WriteAsync(NetworkStream stream, int status, IEnumerable<(string Name, string Value)> headers, byte[] body, string? defaultContentType = null)
    {
        var head = new StringBuilder($"HTTP/1.1 {status} {(HttpStatusCode)status}\r\n");
        var hasType = false;
        foreach (var (name, value) in headers)
        {
            head.Append(name).Append(": ").Append(value).Append("\r\n");
            hasType |= name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase);
        }
        if (!hasType && defaultContentType is not null)
        {
            head.Append("Content-Type: ").Append(defaultContentType).Append("\r\n");
        }
        head.Append($"Content-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString())).ConfigureAwait(false);
        await stream.WriteAsync(body).ConfigureAwait(false);
        await stream.FlushAsync().ConfigureAwait(false);
    }
}
