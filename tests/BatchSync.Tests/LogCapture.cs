using BatchSync.Logging;

namespace BatchSync.Tests;

/// <summary>Tests that swap the process-wide log sink run in one collection, one at a time.</summary>
public static class LogCapture
{
    public const string Collection = "log sink";

    public static string Capture(Action action)
    {
        var previous = Log.Sink;
        var writer = new StringWriter();
        Log.Sink = writer;
        try
        {
            action();
        }
        finally
        {
            Log.Sink = previous;
        }
        return writer.ToString();
    }
}

[CollectionDefinition(LogCapture.Collection)]
public class LogCollection;
