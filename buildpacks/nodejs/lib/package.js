// What the Node.js buildpack reads from package.json, run with the node that builds the app:
//   node package.js check FILE             valid JSON object, else the reason on stderr, exit 1
//   node package.js get FILE KEY.PATH      a string field (engines.node), empty when absent
//   node package.js has-script FILE NAME   exit 0 when scripts[NAME] is set
//   node package.js dependencies FILE [KIND]  how many dependencies it declares (of one kind: devDependencies)
//   node package.js satisfies VERSION RANGE  exit 0 yes, 1 no, 2 cannot tell (no semver module found)
"use strict";
const fs = require("fs");
const path = require("path");

function read(file) {
  const data = JSON.parse(fs.readFileSync(file, "utf8"));
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new Error("it is not a JSON object");
  }
  return data;
}

// npm's own semver: a global module (Debian's node-semver), or the copy inside npm.
function semver() {
  const npm = (() => {
    for (const dir of (process.env.PATH || "").split(path.delimiter)) {
      try {
        return path.dirname(fs.realpathSync(path.join(dir, "npm")));
      } catch (e) {
        // not in this dir
      }
    }
    return null;
  })();
  const candidates = ["semver", "/usr/share/nodejs/semver", "/usr/lib/node_modules/npm/node_modules/semver"];
  if (npm) {
    candidates.push(path.join(npm, "..", "node_modules", "semver"), path.join(npm, "..", "..", "semver"));
  }
  for (const candidate of candidates) {
    try {
      return require(candidate);
    } catch (e) {
      // the next one
    }
  }
  return null;
}

const [command, ...args] = process.argv.slice(2);
try {
  switch (command) {
    case "check":
      read(args[0]);
      break;
    case "get": {
      let value = read(args[0]);
      for (const key of args[1].split(".")) {
        value = value !== null && typeof value === "object" ? value[key] : undefined;
      }
      if (typeof value === "string") process.stdout.write(value + "\n");
      break;
    }
    case "has-script": {
      const scripts = read(args[0]).scripts;
      const script = scripts && typeof scripts === "object" ? scripts[args[1]] : undefined;
      process.exit(typeof script === "string" && script.trim() !== "" ? 0 : 1);
      break;
    }
    case "dependencies": {
      const data = read(args[0]);
      let count = 0;
      const kinds = args[1] ? [args[1]] : ["dependencies", "devDependencies", "optionalDependencies"];
      for (const kind of kinds) {
        if (data[kind] && typeof data[kind] === "object") count += Object.keys(data[kind]).length;
      }
      process.stdout.write(count + "\n");
      break;
    }
    case "satisfies": {
      const lib = semver();
      if (!lib || !lib.validRange(args[1])) process.exit(2);
      process.exit(lib.satisfies(args[0], args[1]) ? 0 : 1);
      break;
    }
    default:
      throw new Error(`unknown command ${command}`);
  }
} catch (e) {
  process.stderr.write(`${e.message}\n`);
  process.exit(3);
}
