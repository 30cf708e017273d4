using System.Diagnostics;
using System.Reflection;
using System.Runtime.Loader;
using System.Text.Json;

// coldstart-host <artifact dir> <handler string> <payload file>
// Loads a function the way the managed dotnet runtime does — the assembly named by the handler string, from its own
// artifact folder (deps.json resolution), one instance, one Task<Stream> Method(Stream) invocation — in this fresh
// process, and prints the time from process start to the first response and the process's peak working set.
if (args.Length != 3)
{
    Console.Error.WriteLine("usage: coldstart-host <artifact dir> <Assembly::Namespace.Type::Method> <payload file>");
    return 2;
}
var (directory, handler, payloadFile) = (args[0], args[1], args[2]);
var payload = File.ReadAllBytes(payloadFile);
var parts = handler.Split("::");
var context = new FunctionLoadContext(Path.Combine(directory, parts[0] + ".dll"));
var type = context.LoadFromAssemblyName(new AssemblyName(parts[0])).GetType(parts[1], throwOnError: true)!;
var instance = Activator.CreateInstance(type)!;
var method = type.GetMethod(parts[2], [typeof(Stream)])!;
string outcome;
try
{
    using var response = await (Task<Stream>)method.Invoke(instance, [new MemoryStream(payload)])!;
    using var reader = new StreamReader(response);
    outcome = reader.ReadToEnd();
}
catch (Exception e)
{
    outcome = "error: " + (e.InnerException ?? e).GetType().Name;
}
var process = Process.GetCurrentProcess();
var elapsed = DateTime.Now - process.StartTime;
using (var writer = new Utf8JsonWriter(Console.OpenStandardOutput()))
{
    writer.WriteStartObject();
    writer.WriteNumber("firstResponseMs", Math.Round(elapsed.TotalMilliseconds, 1));
    writer.WriteNumber("peakWorkingSetMiB", Math.Round(process.PeakWorkingSet64 / 1048576.0, 1));
    writer.WriteString("outcome", outcome.Length > 200 ? outcome[..200] : outcome);
    writer.WriteEndObject();
}
Console.WriteLine();
return 0;

sealed class FunctionLoadContext(string mainAssembly) : AssemblyLoadContext(isCollectible: false)
{
    private readonly AssemblyDependencyResolver _resolver = new(mainAssembly);

    protected override Assembly? Load(AssemblyName name) =>
        _resolver.ResolveAssemblyToPath(name) is { } path ? LoadFromAssemblyPath(path) : null;
}
