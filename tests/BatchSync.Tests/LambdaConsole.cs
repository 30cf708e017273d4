using System.Text;
using System.Text.Json;

namespace BatchSync.Tests;

/// <summary>
/// Console.Out as the managed .NET runtime leaves it, modelled on Amazon.Lambda.RuntimeSupport (aws/aws-lambda-dotnet,
/// Libraries/src/Amazon.Lambda.RuntimeSupport/Helpers/ConsoleLoggerWriter.cs, WrapperTextWriter): every
/// <c>WriteLine</c> is formatted into the runtime's own record — with AWS_LAMBDA_LOG_FORMAT=JSON, a JSON object whose
/// <c>message</c> is the line as a string (JsonLogMessageFormatter.cs) — while <c>Write</c> passes straight to the
/// inner writer. The inner writer is an AutoFlush StreamWriter over the telemetry log stream
/// (FileDescriptorLogStream.cs), so each <c>Write</c> becomes one frame, which CloudWatch stores as one record.
/// <see cref="Records"/> holds those records.
/// </summary>
public sealed class LambdaConsole : TextWriter
{
    public List<string> Records { get; } = [];

    /// <summary>Lines that went through the runtime's formatter (ours must never: they arrive double-encoded).</summary>
    public int FormattedLines { get; private set; }

    public override Encoding Encoding => new UTF8Encoding(false);

    public override void Write(char value) => Records.Add(value.ToString());

    public override void Write(string? value) => Records.Add(value ?? "");

    public override void Write(char[] buffer, int index, int count) => Records.Add(new string(buffer, index, count));

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
        Records.Add(Encoding.GetString(stream.ToArray()) + "\n");
    }
}
