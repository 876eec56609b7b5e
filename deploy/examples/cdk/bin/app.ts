#!/usr/bin/env node
// The example app. Context (`-c key=value`, defaults in cdk.json) chooses where the function
// comes from and what the secret holds; README.md lists the keys.
import { App } from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as path from "node:path";
import { FunctionSource, RotationStack } from "../lib/rotation-stack";

const app = new App();

function context(key: string): string {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined || value === null || String(value) === "") {
    throw new Error(`context ${key} is not set: give it with -c ${key}=... or in cdk.json`);
  }
  return String(value);
}

function zipSource(): FunctionSource {
  const given: unknown = app.node.tryGetContext("zip") ?? process.env.ROTATION_ZIP;
  const repository = path.join(__dirname, "..", "..", "..", "..");
  const zipPath = given
    ? path.resolve(String(given))
    : path.join(repository, "target", "dist", "mysql-single-user-arm64.zip");
  // The zip's name says what it was built for; `-c architecture=` is for renamed zips.
  const fromName = zipPath.endsWith("-x86_64.zip") ? "x86_64" : "arm64";
  const named = String(app.node.tryGetContext("architecture") ?? fromName);
  if (named !== "arm64" && named !== "x86_64") {
    throw new Error(`context architecture is ${named}: expected arm64 or x86_64`);
  }
  const architecture = named === "arm64" ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;
  return { kind: "zip", zipPath, architecture };
}

const kind = context("source");
let source: FunctionSource;
if (kind === "zip") {
  source = zipSource();
} else if (kind === "sar") {
  source = {
    kind: "sar",
    applicationId: context("sarApplicationId"),
    semanticVersion: context("sarSemanticVersion"),
  };
} else {
  throw new Error(`context source is ${kind}: expected zip or sar`);
}

const port = Number(context("port"));
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  throw new Error(`context port is ${context("port")}: expected a TCP port`);
}

new RotationStack(app, "RotationExample", {
  description: "Example - a secret rotated every 30 days by a rotation-lambdas function",
  source,
  functionName: context("functionName"),
  engine: context("engine"),
  host: context("host"),
  port,
  username: context("username"),
});
