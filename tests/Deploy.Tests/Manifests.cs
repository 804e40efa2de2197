using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace AlisaCluster.Deploy.Tests;

/// <summary>Rendered Kubernetes objects, as untyped YAML trees (maps, lists, scalar strings).</summary>
public sealed class Manifests(IReadOnlyList<Dictionary<object, object>> objects)
{
    public IReadOnlyList<Dictionary<object, object>> All => objects;

    public static Manifests Parse(string yaml)
    {
        var parser = new Parser(new StringReader(yaml));
        var deserializer = new DeserializerBuilder().WithDuplicateKeyChecking().Build();   // kubectl refuses duplicate keys
        var objects = new List<Dictionary<object, object>>();
        parser.Consume<StreamStart>();
        while (parser.Accept<DocumentStart>(out _))
            if (deserializer.Deserialize<object?>(parser) is Dictionary<object, object> document) objects.Add(document);
        return new Manifests(objects);
    }

    public IEnumerable<Dictionary<object, object>> OfKind(string kind) => objects.Where(o => (string)o["kind"] == kind);

    public Dictionary<object, object> Get(string kind, string name) =>
        OfKind(kind).SingleOrDefault(o => (string)Yaml.At(o, "metadata", "name")! == name)
        ?? throw new KeyNotFoundException($"no {kind} {name} in: {string.Join(", ", objects.Select(o => $"{o["kind"]} {Yaml.At(o, "metadata", "name")}"))}");

    /// <summary>The first container of a workload's pod template.</summary>
    public static Dictionary<object, object> Container(Dictionary<object, object> workload, string name) =>
        Yaml.List(workload, "spec", "template", "spec", "containers").Cast<Dictionary<object, object>>().Single(c => (string)c["name"] == name);

    public static Dictionary<string, Dictionary<object, object>> Env(Dictionary<object, object> container) =>
        Yaml.List(container, "env").Cast<Dictionary<object, object>>().ToDictionary(e => (string)e["name"]);

    public static string? EnvValue(Dictionary<object, object> container, string name) =>
        Env(container).TryGetValue(name, out var entry) ? entry.GetValueOrDefault("value") as string : null;
}

public static class Yaml
{
    /// <summary>The node at a path of map keys and list indices; null where the path ends early.</summary>
    public static object? At(object? node, params object[] path)
    {
        foreach (var step in path)
        {
            node = (node, step) switch
            {
                (Dictionary<object, object> map, string key) => map.GetValueOrDefault(key),
                (List<object> list, int index) => index < list.Count ? list[index] : null,
                _ => null,
            };
            if (node is null) return null;
        }
        return node;
    }

    public static string? Text(object? node, params object[] path) => At(node, path) as string;

    public static List<object> List(object? node, params object[] path) => At(node, path) as List<object> ?? [];

    /// <summary>Every scalar under the node, with its path (for searches over a whole object).</summary>
    public static IEnumerable<(string Path, string Value)> Scalars(object? node, string path = "")
    {
        switch (node)
        {
            case Dictionary<object, object> map:
                foreach (var (key, value) in map) foreach (var s in Scalars(value, $"{path}/{key}")) yield return s;
                break;
            case List<object> list:
                for (int i = 0; i < list.Count; i++) foreach (var s in Scalars(list[i], $"{path}/{i}")) yield return s;
                break;
            case string text:
                yield return (path, text);
                break;
        }
    }
}
