using System.Reflection;
using System.Runtime.Loader;

namespace BatchSync.LocalWorld;

/// <summary>
/// A function loaded from its build artifact (what <c>make build-&lt;Function&gt; ARTIFACTS_DIR=...</c>, i.e.
/// <c>sam build</c>, produces) the way the managed dotnet runtime loads it: the assembly named by the handler string,
/// from the artifact's folder, its dependencies resolved through the artifact's deps.json in a load context of its own
/// (so each function has its own BatchSync.Core, AWS SDK and statics, as in its own Lambda sandbox), one instance, one
/// <c>Task&lt;Stream&gt; Method(Stream)</c>. The same approach as bench/BatchSync.ColdStartHost.
/// </summary>
public sealed class FunctionArtifact
{
    private readonly ArtifactLoadContext _context;

    private FunctionArtifact(string directory, string handler)
    {
        Directory = directory;
        HandlerString = handler;
        var assembly = handler.Split("::")[0];
        var main = Path.Combine(directory, assembly + ".dll");
        if (!File.Exists(main) || !File.Exists(Path.Combine(directory, assembly + ".deps.json")))
        {
            throw new FileNotFoundException($"{directory} holds no {assembly}.dll with its deps.json: is it a build artifact of that function?", main);
        }
        _context = new ArtifactLoadContext(main);
        Handler = SamTemplate.HandlerOf(handler, _context.LoadFromAssemblyName);
    }

    public string Directory { get; }
    public string HandlerString { get; }
    public Func<Stream, Task<Stream>> Handler { get; }

    public static FunctionArtifact Load(string directory, string handler) => new(directory, handler);

    /// <summary>
    /// Sends the function's log lines (BatchSync.Logging.Log.Sink of its own BatchSync.Core) to <paramref name="sink"/>
    /// instead of standard output. False when the artifact's core has no such sink.
    /// </summary>
    public bool RedirectLogs(TextWriter sink)
    {
        var log = _context.LoadFromAssemblyName(new AssemblyName("BatchSync.Core")).GetType("BatchSync.Logging.Log");
        var property = log?.GetProperty("Sink", BindingFlags.Public | BindingFlags.Static);
        if (property is null || !property.CanWrite || property.PropertyType != typeof(TextWriter))
        {
            return false;
        }
        property.SetValue(null, sink);
        return true;
    }

    private sealed class ArtifactLoadContext(string mainAssembly) : AssemblyLoadContext(Path.GetFileNameWithoutExtension(mainAssembly), isCollectible: false)
    {
        private readonly AssemblyDependencyResolver _resolver = new(mainAssembly);

        protected override Assembly? Load(AssemblyName name) =>
            _resolver.ResolveAssemblyToPath(name) is { } path ? LoadFromAssemblyPath(path) : null;
    }
}
