//! moto's server as Secrets Manager. `cargo xtask test` starts one per run with [`Moto::start`]
//! and passes its address to the tests, which find it with [`Moto::from_env`].
//!
//! To reproduce the real start state of a rotation, moto needs a function in its Lambda
//! backend: `RotateSecret` then labels a new, empty version AWSPENDING, as the service does.

use crate::process::ServerProcess;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Where the emulator is.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// ARN of the function registered in moto's Lambda backend, for `RotateSecret`.
    pub lambda_arn: String,
    _process: Option<ServerProcess>,
}

/// Registers a placeholder function with moto (Docker-based execution off).
const SETUP: &str = r##"
import io, json, sys, urllib.request, zipfile
import boto3
url = sys.argv[1]
req = urllib.request.Request(url + "/moto-api/config", method="POST",
    data=json.dumps({"lambda": {"use_docker": False}}).encode(),
    headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
role = boto3.client("iam", **kw).create_role(RoleName="rotation-test",
    AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("bootstrap", "#!/bin/sh\n")
fn = boto3.client("lambda", **kw).create_function(FunctionName="rotation-test", Runtime="provided.al2023",
    Role=role, Handler="bootstrap", Code={"ZipFile": buf.getvalue()})
print(fn["FunctionArn"])
"##;

impl Moto {
    /// Start `moto_server` from `venv_bin` on a free port and register the placeholder function.
    pub fn start(venv_bin: &Path) -> Result<Moto, String> {
        let port = crate::net::free_port();
        let dir = ServerProcess::folder("moto")?;
        let process = ServerProcess::spawn(
            "moto",
            dir,
            Command::new(venv_bin.join("moto_server")).args([
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ]),
        )?;
        crate::net::wait_for_port(port, Duration::from_secs(30))
            .map_err(|e| format!("moto did not start: {e}\n{}", process.log_tail()))?;
        let url = format!("http://127.0.0.1:{port}");
        let out = Command::new(venv_bin.join("python"))
            .args(["-c", SETUP, &url])
            .output()
            .map_err(|e| format!("cannot run the venv's python: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "registering the rotation function with moto failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let lambda_arn = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Ok(Moto {
            url,
            lambda_arn,
            _process: Some(process),
        })
    }

    /// The emulator `cargo xtask test` started.
    pub fn from_env() -> Moto {
        Moto {
            url: crate::required_env("ROTATION_TEST_MOTO_URL"),
            lambda_arn: crate::required_env("ROTATION_TEST_LAMBDA_ARN"),
            _process: None,
        }
    }

    /// The variables that tell the tests where it is.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("ROTATION_TEST_MOTO_URL".into(), self.url.clone()),
            ("ROTATION_TEST_LAMBDA_ARN".into(), self.lambda_arn.clone()),
        ]
    }
}
