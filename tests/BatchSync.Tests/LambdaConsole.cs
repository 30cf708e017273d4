using System.Text;
using System.Text.Json;

namespace BatchSync.Tests;

/// <summary>
/// Console.Out as the managed .NET runtime leaves it, modelled on Amazon.Lambda.RuntimeSupport (aws/aws-lambda-dotnet,
/// Libraries/src/Amazon.Lambda.RuntimeSupport/Helpers/ConsoleLoggerWriter.cs, WrapperTextWriter): every
/// <c>WriteLine</c> is formatted into the runtime's own record — with AWS_LAMBDA_LOG_FORMAT=JSON, a JSON object whose
/// <c>message</c> is the line as a string (JsonLogMessageFormatter.cs) — while <c>Write</c> and <c>Flush</c> pass
/// straight to the inner writer. The inner writer is built as FileDescriptorLogStream.cs builds it: an AutoFlush
/// StreamWriter (UTF-8 without BOM, a 256 KiB − 26 buffer) over the telemetry log stream, where each write of bytes
/// is one frame, which CloudWatch stores as one record. <see cref="Records"/> holds those frames.
/// </summary>
public sealed class LambdaConsole : TextWriter
{
    private readonly FrameStream _frames = new();
    private readonly StreamWriter _inner;

    public LambdaConsole()
    {
        _inner = new StreamWriter(_frames, new UTF8Encoding(false), 256 * 1024 - 26) { AutoFlush = true };
    }

    /// <summary>What reached the telemetry stream: one entry per frame.</summary>
    public List<string> Records => _frames.Frames.Select(f => Encoding.UTF8.GetString(f)).ToList();

    /// <summary>Lines that went through the runtime's formatter (ours must never: they arrive double-encoded).</summary>
    public int FormattedLines { get; private set; }

    public override Encoding Encoding => _inner.Encoding;

    public override void Write(char value) => _inner.Write(value);

    public override void Write(string? value) => _inner.Write(value);

    public override void Write(char[] buffer, int index, int count) => _inner.Write(buffer, index, count);

    public override void Flush() => _inner.Flush();

    public override void WriteLine(string? value) => Format(value ?? "");

    public override void WriteLine() => Format("");

    public override void WriteLine(char[] buffer, int index, int count) => Format(new string(buffer, index, count));

    public override void WriteLine(ReadOnlySpan<char> buffer) => Format(new string(buffer));

    private void Format(string line)
    {
        FormattedLines++;
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteString("timestamp", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"));
            writer.WriteString("level", "Information");
            writer.WriteString("message", line);
            writer.WriteEndObject();
        }
        _inner.WriteLine(Encoding.GetString(stream.ToArray()));
    }

    private sealed class FrameStream : Stream
    {
        public List<byte[]> Frames { get; } = [];

        public override void Write(byte[] buffer, int offset, int count) => Frames.Add(buffer[offset..(offset + count)]);

        public override void Flush()
        {
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
