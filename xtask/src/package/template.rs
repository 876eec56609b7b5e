//! The SAM template of each rotation function, built as a `serde_json::Value`.
//!
//! This is the one source of truth for `deploy/<function>/template.yaml`: the six templates
//! differ only where the [`Function`] table says the functions differ (engine, strategy, master
//! secret). Parameter names and meanings follow AWS's Secrets Manager rotation applications, so
//! a stack can switch from one of those to ours with the same parameter values.

use serde_json::{Map, Value, json};

/// The SAR application metadata points here for everything but the code.
pub const REPOSITORY_URL: &str = "https://github.com/rotation-lambdas/rotation-lambdas";

/// The version of the applications: the workspace version (`[workspace.package] version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

use rotation_functions::{AdminUse, Arch, Engine, Function, Strategy};

/// How the templates speak of an engine.
trait EngineText {
    /// What the engine's functions rotate, for descriptions.
    fn covers(self) -> &'static str;
    /// The SAR label of the engine.
    fn label(self) -> &'static str;
}

impl EngineText for Engine {
    fn covers(self) -> &'static str {
        match self {
            Engine::MySql => "MySQL, MariaDB and Aurora MySQL",
            Engine::Postgres => "PostgreSQL and Aurora PostgreSQL",
            Engine::Redis => "Redis OSS and Valkey ACL",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Engine::MySql => "mysql",
            Engine::Postgres => "postgresql",
            Engine::Redis => "redis",
        }
    }
}

/// What the templates derive from a [`Function`] of the table.
trait FunctionText: Copy {
    /// The logical id of the function resource.
    fn logical_id(self) -> String;
    /// The logical id of the execution role.
    fn role_id(self) -> String;
    /// Whether the template has the `usernameCharacterLimit` parameter.
    fn has_username_limit(self) -> bool;
    /// Whether the template has the `previousPassword` parameter.
    fn has_previous_password(self) -> bool;
    /// One sentence for the template, the function and the SAR listing.
    fn description(self) -> String;
}

impl FunctionText for Function {
    /// The logical id of the function resource. For MySQL and PostgreSQL it is the one AWS's
    /// applications use, so that replacing their application updates the function (whose
    /// name is fixed by `functionName`) in place instead of creating a second one by that name.
    fn logical_id(self) -> String {
        let engine = match self.engine {
            Engine::MySql => "RDSMySQL",
            Engine::Postgres => "RDSPostgreSQL",
            Engine::Redis => "Redis",
        };
        let strategy = match self.strategy {
            Strategy::SingleUser => "SingleUser",
            Strategy::AlternatingUsers => "MultiUser",
        };
        format!("SecretsManager{engine}Rotation{strategy}")
    }

    /// The logical id of the execution role: `<function id>Role`, the id SAM gives the role it
    /// generates for AWS's applications. An explicit role with that id replaces theirs in
    /// place (same type, no fixed name) rather than creating a second role next to it.
    fn role_id(self) -> String {
        format!("{}Role", self.logical_id())
    }

    /// MySQL alternating users checks `name_clone` against the server's user name limit,
    /// which the `usernameCharacterLimit` parameter can override.
    fn has_username_limit(self) -> bool {
        self.engine == Engine::MySql && self.strategy == Strategy::AlternatingUsers
    }

    /// Redis keeps the previous password beside the new one, and so does MySQL single user
    /// on 8.0.14+ (dual passwords); `previousPassword` can ask for a hard cut-over instead.
    fn has_previous_password(self) -> bool {
        self.engine == Engine::Redis
            || (self.engine == Engine::MySql && self.strategy == Strategy::SingleUser)
    }

    /// One sentence for the template, the function and the SAR listing.
    fn description(self) -> String {
        format!(
            "Secrets Manager rotation function for {}, {} strategy (Rust, provided.al2023).",
            self.engine.covers(),
            match self.strategy {
                Strategy::SingleUser => "single user",
                Strategy::AlternatingUsers => "alternating users",
            },
        )
    }
}

/// Where a template finds the artifacts it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifacts {
    /// `CodeUri` of the function: a path relative to the template, an absolute path, or an
    /// `s3://` URI.
    pub code_uri: String,
    /// `ReadmeUrl` of the SAR metadata.
    pub readme_url: String,
    /// `LicenseUrl` of the SAR metadata.
    pub license_url: String,
    /// `Some(arch)` when the code is built for one architecture only: the `architecture`
    /// parameter then allows that one value, so that a mismatch fails at deploy time rather
    /// than at the first rotation.
    pub only_arch: Option<Arch>,
}

impl Artifacts {
    /// What the committed template in `deploy/<function>/` refers to: paths relative to it,
    /// and the zip of the default architecture.
    pub fn source(f: Function) -> Artifacts {
        Artifacts {
            code_uri: format!("../../target/dist/{}-{}.zip", f.name, Arch::Arm64.as_str()),
            readme_url: "../README.md".to_owned(),
            license_url: "../../LICENSE".to_owned(),
            only_arch: None,
        }
    }
}

fn r(name: &str) -> Value {
    json!({ "Ref": name })
}

fn sub(text: &str) -> Value {
    json!({ "Fn::Sub": text })
}

fn no_value() -> Value {
    r("AWS::NoValue")
}

/// `value` when `condition` holds, nothing otherwise.
fn when(condition: &str, value: Value) -> Value {
    json!({ "Fn::If": [condition, value, no_value()] })
}

fn not_empty(value: Value) -> Value {
    json!({ "Fn::Not": [{ "Fn::Equals": [value, ""] }] })
}

/// Condition names, shared with the tests.
pub mod cond {
    /// `endpoint` is set.
    pub const ENDPOINT: &str = "HasEndpoint";
    /// `vpcSubnetIds` is set.
    pub const VPC: &str = "HasVpcConfig";
    /// `kmsKeyArn` is set.
    pub const KMS_KEY: &str = "HasKmsKey";
    /// `masterSecretArn` is set (only where it is optional).
    pub const MASTER_SECRET: &str = "HasMasterSecret";
    /// `masterSecretKmsKeyArn` is set.
    pub const MASTER_SECRET_KMS_KEY: &str = "HasMasterSecretKmsKey";
    /// `permissionsBoundary` is set.
    pub const PERMISSIONS_BOUNDARY: &str = "HasPermissionsBoundary";
    /// `usernameCharacterLimit` is set.
    pub const USERNAME_LIMIT: &str = "HasUsernameCharacterLimit";
    /// `layerArns` is set.
    pub const LAYERS: &str = "HasLayers";
    /// `caBundlePath` is set.
    pub const CA_BUNDLE: &str = "HasCaBundle";
    /// `logLevel` is set and `logFormat` is JSON: Lambda's ApplicationLogLevel carries it.
    pub const APPLICATION_LOG_LEVEL: &str = "SetsApplicationLogLevel";
    /// `logLevel` is set and `logFormat` is Text: `LOG_LEVEL` carries it.
    pub const LOG_LEVEL_VARIABLE: &str = "SetsLogLevelVariable";
    /// `tracing` is Active.
    pub const ACTIVE_TRACING: &str = "HasActiveTracing";
}

/// The ARN of the function, built from `functionName` so that the role's policy can name it
/// without depending on the function (which depends on the role).
const FUNCTION_ARN: &str =
    "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${functionName}";

/// Logical id of the permission that lets the invoking service call the function: the id in
/// AWS's applications, so that switching from one of them keeps the resource.
pub const PERMISSION_ID: &str = "LambdaPermission";

/// The tag that AWS's applications put on the function (and, through SAM, on its role). Tag-based
/// policies and inventories that look for rotation functions find ours the same way.
pub const ROTATION_TAG: (&str, &str) = ("SecretsManagerLambda", "Rotation");

fn parameters(f: Function, artifacts: &Artifacts) -> Map<String, Value> {
    let mut p = Map::new();
    let mut add = |name: &str, value: Value| {
        p.insert(name.to_owned(), value);
    };
    add(
        "endpoint",
        json!({
            "Type": "String",
            "Default": "",
            "Description": "Secrets Manager endpoint URL the function calls, e.g. \
                https://secretsmanager.us-east-1.amazonaws.com or a VPC endpoint's DNS name. \
                Empty: the SDK's regional default.",
        }),
    );
    add(
        "functionName",
        json!({
            "Type": "String",
            "AllowedPattern": "[a-zA-Z0-9_-]{1,64}",
            "ConstraintDescription": "1 to 64 letters, digits, hyphens or underscores.",
            "Description": "Name of the rotation function to create.",
        }),
    );
    add(
        "invokingServicePrincipal",
        json!({
            "Type": "String",
            "Default": "secretsmanager.amazonaws.com",
            "Description": "Service principal allowed to invoke the function.",
        }),
    );
    add(
        "vpcSubnetIds",
        json!({
            "Type": "CommaDelimitedList",
            "Default": "",
            "Description": "Subnets to run the function in, comma separated, when the database \
                is in a VPC. They need a route to Secrets Manager (NAT gateway or VPC \
                endpoint). Empty: no VPC.",
        }),
    );
    add(
        "vpcSecurityGroupIds",
        json!({
            "Type": "CommaDelimitedList",
            "Default": "",
            "Description": "Security groups of the function, comma separated; required with \
                vpcSubnetIds.",
        }),
    );
    add(
        "kmsKeyArn",
        json!({
            "Type": "String",
            "Default": "",
            "Description": "ARN of the customer managed KMS key that encrypts the rotated \
                secrets. Empty: the secrets use the AWS managed key aws/secretsmanager.",
        }),
    );
    add(
        "excludeCharacters",
        json!({
            "Type": "String",
            "Default": f.default_exclude_characters,
            "Description": "Characters that generated passwords must not contain.",
        }),
    );
    match f.admin {
        AdminUse::Never => {}
        AdminUse::Always => add(
            "masterSecretArn",
            json!({
                "Type": "String",
                "AllowedPattern": "arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+",
                "ConstraintDescription": "The ARN of a Secrets Manager secret.",
                "Description": "ARN of the secret with the admin credentials that the rotated \
                    secrets name in their masterarn key. The function may read only this one.",
            }),
        ),
        AdminUse::WhenNamed => add(
            "masterSecretArn",
            json!({
                "Type": "String",
                "Default": "",
                "AllowedPattern": "(arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+)?",
                "ConstraintDescription": "Empty, or the ARN of a Secrets Manager secret.",
                "Description": "ARN of the secret with admin credentials, for rotated secrets \
                    that name it in their optional masterarn key. Empty: no admin secret; the \
                    user changes its own password.",
            }),
        ),
    }
    if f.admin != AdminUse::Never {
        add(
            "masterSecretKmsKeyArn",
            json!({
                "Type": "String",
                "Default": "",
                "Description": "ARN of the customer managed KMS key that encrypts the admin \
                    secret. Empty: it uses the AWS managed key aws/secretsmanager.",
            }),
        );
    }
    // AWS's applications take the Python runtime as a parameter. Stacks and tools (the
    // HostedRotationLambda transform's Runtime, for one) pass it, so it must be accepted; the
    // function is a provided.al2023 executable whatever it says.
    add(
        "runtime",
        json!({
            "Type": "String",
            "Default": "provided.al2023",
            "Description": "Ignored; accepted so that stacks written for AWS's rotation \
                applications deploy unchanged. The function always runs on provided.al2023.",
        }),
    );
    let arch_values: Vec<&str> = match artifacts.only_arch {
        Some(arch) => vec![arch.as_str()],
        None => Arch::ALL.iter().map(|a| a.as_str()).collect(),
    };
    add(
        "architecture",
        json!({
            "Type": "String",
            "Default": artifacts.only_arch.unwrap_or(Arch::Arm64).as_str(),
            "AllowedValues": arch_values,
            "Description": "Instruction set of the function; it must match the packaged code.",
        }),
    );
    add(
        "permissionsBoundary",
        json!({
            "Type": "String",
            "Default": "",
            "AllowedPattern": "(arn:[a-z-]+:iam::[0-9]{12}:policy/.+)?",
            "ConstraintDescription": "Empty, or the ARN of an IAM managed policy.",
            "Description": "ARN of a managed policy to set as the permissions boundary of the \
                function's role. Empty: none.",
        }),
    );
    add(
        "passwordLength",
        json!({
            "Type": "Number",
            "Default": 32,
            "MinValue": 8,
            "MaxValue": 4096,
            "Description": "Length of generated passwords.",
        }),
    );
    add(
        "tlsMode",
        json!({
            "Type": "String",
            "Default": "prefer",
            "AllowedValues": ["prefer", "require", "disable"],
            "Description": "TLS for secrets without an ssl key. prefer: TLS when the server \
                offers it, never falling back to plaintext on a certificate error; require: \
                TLS or fail; disable: no TLS.",
        }),
    );
    add(
        "trustRdsCa",
        json!({
            "Type": "String",
            "Default": "true",
            "AllowedValues": ["true", "false"],
            "Description": "true: trust AWS's Amazon RDS and Aurora certificate authorities, \
                which the function embeds, on top of the system roots and caBundlePath; \
                false: only the system roots and caBundlePath.",
        }),
    );
    add(
        "caBundlePath",
        json!({
            "Type": "String",
            "Default": "",
            "AllowedPattern": "(/.+)?",
            "ConstraintDescription": "Empty, or an absolute path.",
            "Description": "Absolute path of a PEM file of extra CA certificates to trust, \
                e.g. /opt/ca-bundle.pem from a layer in layerArns. Empty: none.",
        }),
    );
    add(
        "layerArns",
        json!({
            "Type": "CommaDelimitedList",
            "Default": "",
            "Description": "Lambda layer version ARNs to add to the function, comma \
                separated, e.g. a layer that ships a CA bundle under /opt. Empty: no layers.",
        }),
    );
    add(
        "logLevel",
        json!({
            "Type": "String",
            "Default": "",
            "AllowedValues": ["", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"],
            "Description": "Least severe level logged. With logFormat JSON it is the function's \
                ApplicationLogLevel; with Text it sets LOG_LEVEL, since Lambda accepts an \
                application log level only with JSON. Empty: INFO.",
        }),
    );
    add(
        "logFormat",
        json!({
            "Type": "String",
            "Default": "JSON",
            "AllowedValues": ["JSON", "Text"],
            "Description": "LogFormat of the function's logging configuration: JSON (one object \
                per line, filterable by level) or Text (one readable line per event).",
        }),
    );
    add(
        "tracing",
        json!({
            "Type": "String",
            "Default": "PassThrough",
            "AllowedValues": ["PassThrough", "Active"],
            "Description": "X-Ray tracing mode. Active samples and traces invocations, and \
                gives the role permission to send traces; PassThrough traces only when the \
                caller asks.",
        }),
    );
    add(
        "timeout",
        json!({
            "Type": "Number",
            "Default": 30,
            "MinValue": 3,
            "MaxValue": 900,
            "Description": "Function timeout in seconds.",
        }),
    );
    add(
        "memorySize",
        json!({
            "Type": "Number",
            "Default": 128,
            "MinValue": 128,
            "MaxValue": 10240,
            "Description": "Function memory in MB.",
        }),
    );
    if f.has_previous_password() {
        add(
            "previousPassword",
            json!({
                "Type": "String",
                "Default": "keep",
                "AllowedValues": ["keep", "discard"],
                "Description": "keep: the previous password stays valid until the next \
                    rotation, so clients holding it keep working (MySQL: on 8.0.14+, for a \
                    user with APPLICATION_PASSWORD_ADMIN or CREATE USER); discard: only the \
                    new password is valid after rotation.",
            }),
        );
    }
    if f.has_username_limit() {
        add(
            "usernameCharacterLimit",
            json!({
                "Type": "String",
                "Default": "",
                "AllowedPattern": "[0-9]*",
                "ConstraintDescription": "Empty, or a whole number.",
                "Description": "Longest user name the server accepts. Empty: detected from the \
                    server version.",
            }),
        );
    }
    p
}

fn conditions(f: Function) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert(cond::ENDPOINT.into(), not_empty(r("endpoint")));
    c.insert(
        cond::VPC.into(),
        not_empty(json!({ "Fn::Join": ["", r("vpcSubnetIds")] })),
    );
    c.insert(cond::KMS_KEY.into(), not_empty(r("kmsKeyArn")));
    if f.admin == AdminUse::WhenNamed {
        c.insert(cond::MASTER_SECRET.into(), not_empty(r("masterSecretArn")));
    }
    if f.admin != AdminUse::Never {
        c.insert(
            cond::MASTER_SECRET_KMS_KEY.into(),
            not_empty(r("masterSecretKmsKeyArn")),
        );
    }
    c.insert(
        cond::PERMISSIONS_BOUNDARY.into(),
        not_empty(r("permissionsBoundary")),
    );
    if f.has_username_limit() {
        c.insert(
            cond::USERNAME_LIMIT.into(),
            not_empty(r("usernameCharacterLimit")),
        );
    }
    c.insert(
        cond::LAYERS.into(),
        not_empty(json!({ "Fn::Join": ["", r("layerArns")] })),
    );
    c.insert(cond::CA_BUNDLE.into(), not_empty(r("caBundlePath")));
    // Each written in full rather than from a shared "HasLogLevel" condition, so that every
    // condition is used by a resource.
    for (name, format) in [
        (cond::APPLICATION_LOG_LEVEL, "JSON"),
        (cond::LOG_LEVEL_VARIABLE, "Text"),
    ] {
        c.insert(
            name.into(),
            json!({ "Fn::And": [
                not_empty(r("logLevel")),
                { "Fn::Equals": [r("logFormat"), format] },
            ] }),
        );
    }
    c.insert(
        cond::ACTIVE_TRACING.into(),
        json!({ "Fn::Equals": [r("tracing"), "Active"] }),
    );
    c
}

/// KMS calls made on the function's behalf by Secrets Manager, and by nobody else.
fn via_secrets_manager() -> Value {
    json!({ "StringLike": { "kms:ViaService": sub("secretsmanager.${AWS::Region}.*") } })
}

fn policy_statements(f: Function) -> Vec<Value> {
    let mut statements = vec![
        json!({
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [
                sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/${functionName}"),
                sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/${functionName}:*"),
            ],
        }),
        // Only secrets whose rotation is configured to use this function.
        json!({
            "Sid": "RotatedSecrets",
            "Effect": "Allow",
            "Action": [
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
                "secretsmanager:UpdateSecretVersionStage",
                // Single user's setSecret looks for the password of a rotation abandoned
                // after its setSecret, in versions no label points to.
                "secretsmanager:ListSecretVersionIds",
            ],
            "Resource": sub("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"),
            "Condition": {
                "StringEquals": {
                    "secretsmanager:resource/AllowRotationLambdaArn": sub(FUNCTION_ARN),
                },
            },
        }),
        // GetRandomPassword acts on no resource.
        json!({
            "Sid": "RandomPassword",
            "Effect": "Allow",
            "Action": "secretsmanager:GetRandomPassword",
            "Resource": "*",
        }),
        // PutSecretValue encrypts the new version, so the rotated secrets' key needs both.
        when(
            cond::KMS_KEY,
            json!({
                "Sid": "RotatedSecretsKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": r("kmsKeyArn"),
                "Condition": via_secrets_manager(),
            }),
        ),
    ];
    let master = json!({
        "Sid": "MasterSecret",
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": r("masterSecretArn"),
    });
    match f.admin {
        AdminUse::Never => {}
        AdminUse::Always => statements.push(master),
        AdminUse::WhenNamed => statements.push(when(cond::MASTER_SECRET, master)),
    }
    if f.admin != AdminUse::Never {
        statements.push(when(
            cond::MASTER_SECRET_KMS_KEY,
            json!({
                "Sid": "MasterSecretKey",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": r("masterSecretKmsKeyArn"),
                "Condition": via_secrets_manager(),
            }),
        ));
    }
    // Lambda manages the network interfaces of a function in a VPC with the function's role;
    // these actions support no resource-level scoping.
    statements.push(when(
        cond::VPC,
        json!({
            "Sid": "VpcNetworkInterfaces",
            "Effect": "Allow",
            "Action": [
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            "Resource": "*",
        }),
    ));
    // What SAM's generated role gets from AWSXrayWriteOnlyAccess for Tracing: Active, minus the
    // sampling-rule reads the function does not make (Lambda samples). X-Ray has no
    // resource-level permissions.
    statements.push(when(
        cond::ACTIVE_TRACING,
        json!({
            "Sid": "XRayTraces",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*",
        }),
    ));
    statements
}

fn environment(f: Function) -> Value {
    let mut vars = Map::new();
    vars.insert(
        "SECRETS_MANAGER_ENDPOINT".into(),
        json!({ "Fn::If": [cond::ENDPOINT, r("endpoint"), no_value()] }),
    );
    vars.insert("EXCLUDE_CHARACTERS".into(), r("excludeCharacters"));
    vars.insert("PASSWORD_LENGTH".into(), r("passwordLength"));
    vars.insert("TLS_MODE".into(), r("tlsMode"));
    vars.insert("TRUST_RDS_CA".into(), r("trustRdsCa"));
    vars.insert("CA_BUNDLE".into(), when(cond::CA_BUNDLE, r("caBundlePath")));
    // Only when asked for, and only with Text: with JSON the level goes to LoggingConfig, which
    // the function reads first (AWS_LAMBDA_LOG_LEVEL).
    vars.insert(
        "LOG_LEVEL".into(),
        when(cond::LOG_LEVEL_VARIABLE, r("logLevel")),
    );
    if f.has_previous_password() {
        vars.insert("PREVIOUS_PASSWORD".into(), r("previousPassword"));
    }
    if f.has_username_limit() {
        vars.insert(
            "USERNAME_CHARACTER_LIMIT".into(),
            json!({ "Fn::If": [cond::USERNAME_LIMIT, r("usernameCharacterLimit"), no_value()] }),
        );
    }
    json!({ "Variables": vars })
}

/// The whole template of `f`, referring to `artifacts`.
pub fn template(f: Function, artifacts: &Artifacts) -> Value {
    let function_id = f.logical_id();
    let role_id = f.role_id();
    let (tag_key, tag_value) = ROTATION_TAG;
    let mut labels = vec!["secretsmanager", "rotation", f.engine.label()];
    labels.extend(match f.strategy {
        Strategy::SingleUser => ["single-user"],
        Strategy::AlternatingUsers => ["alternating-users"],
    });
    labels.push("rust");
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f.description(),
        "Metadata": {
            "AWS::ServerlessRepo::Application": {
                "Name": format!("rotation-lambdas-{}", f.name),
                "Description": f.description(),
                "Author": "rotation-lambdas",
                "SpdxLicenseId": "Apache-2.0",
                "LicenseUrl": artifacts.license_url,
                "ReadmeUrl": artifacts.readme_url,
                "Labels": labels,
                "HomePageUrl": REPOSITORY_URL,
                "SemanticVersion": VERSION,
                "SourceCodeUrl": REPOSITORY_URL,
            },
        },
        "Parameters": parameters(f, artifacts),
        "Conditions": conditions(f),
        "Resources": {
            role_id.clone(): {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Description": format!("Execution role of the {} rotation function", f.name),
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Principal": { "Service": "lambda.amazonaws.com" },
                            "Action": "sts:AssumeRole",
                        }],
                    },
                    "PermissionsBoundary": {
                        "Fn::If": [cond::PERMISSIONS_BOUNDARY, r("permissionsBoundary"), no_value()],
                    },
                    "Policies": [{
                        "PolicyName": "rotation",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": policy_statements(f),
                        },
                    }],
                    "Tags": [{ "Key": tag_key, "Value": tag_value }],
                },
            },
            function_id.clone(): {
                "Type": "AWS::Serverless::Function",
                // Records what was passed for the ignored runtime parameter, where CloudFormation
                // resolves it and nothing reads it (and so every parameter is used).
                "Metadata": { "IgnoredParameters": { "runtime": r("runtime") } },
                "Properties": {
                    "FunctionName": r("functionName"),
                    "Description": f.description(),
                    "CodeUri": artifacts.code_uri,
                    "Handler": "bootstrap",
                    "Runtime": "provided.al2023",
                    "Architectures": [r("architecture")],
                    "MemorySize": r("memorySize"),
                    "Timeout": r("timeout"),
                    "Role": { "Fn::GetAtt": [role_id.clone(), "Arn"] },
                    "Environment": environment(f),
                    // Lambda refuses an ApplicationLogLevel unless LogFormat is JSON.
                    "LoggingConfig": {
                        "LogFormat": r("logFormat"),
                        "ApplicationLogLevel": when(cond::APPLICATION_LOG_LEVEL, r("logLevel")),
                    },
                    "Tracing": r("tracing"),
                    "Tags": { tag_key: tag_value },
                    // A layer is how a private CA bundle reaches the function without a
                    // rebuild: its files appear under /opt.
                    "Layers": when(cond::LAYERS, r("layerArns")),
                    "VpcConfig": {
                        "Fn::If": [
                            cond::VPC,
                            {
                                "SubnetIds": r("vpcSubnetIds"),
                                "SecurityGroupIds": r("vpcSecurityGroupIds"),
                            },
                            no_value(),
                        ],
                    },
                },
            },
            PERMISSION_ID: {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": { "Fn::GetAtt": [function_id.clone(), "Arn"] },
                    "Action": "lambda:InvokeFunction",
                    "Principal": r("invokingServicePrincipal"),
                    "SourceAccount": r("AWS::AccountId"),
                },
            },
        },
        "Outputs": {
            "RotationLambdaARN": {
                "Description": "ARN of the rotation function, for RotationLambdaARN of a \
                    rotation schedule.",
                "Value": { "Fn::GetAtt": [function_id, "Arn"] },
            },
            // AWS's applications give no way to name their role; a parent stack needs it for a
            // KMS key policy or a resource policy on the admin secret.
            "RotationLambdaRoleARN": {
                "Description": "ARN of the rotation function's execution role, for key \
                    policies and secret resource policies.",
                "Value": { "Fn::GetAtt": [role_id, "Arn"] },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rotation_functions::FUNCTIONS;
    use std::collections::{BTreeMap, BTreeSet};

    fn all_templates() -> Vec<(Function, Value)> {
        let mut out = Vec::new();
        for f in FUNCTIONS {
            out.push((f, template(f, &Artifacts::source(f))));
            for arch in Arch::ALL {
                let artifacts = Artifacts {
                    code_uri: format!("s3://bucket/prefix/{}-{}.zip", f.name, arch.as_str()),
                    readme_url: "s3://bucket/prefix/README.md".into(),
                    license_url: "s3://bucket/prefix/LICENSE".into(),
                    only_arch: Some(arch),
                };
                out.push((f, template(f, &artifacts)));
            }
        }
        out
    }

    fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
        t.get("Resources")
            .and_then(|r| r.get(id))
            .unwrap_or_else(|| panic!("resource {id} missing"))
    }

    fn strings(v: &Value) -> BTreeSet<String> {
        match v {
            Value::String(s) => BTreeSet::from([s.clone()]),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().expect("string").to_owned())
                .collect(),
            other => panic!("expected a string or a list of strings, got {other}"),
        }
    }

    /// The template's one IAM role.
    fn role(t: &Value) -> &Value {
        let roles: Vec<&Value> = t["Resources"]
            .as_object()
            .expect("resources")
            .values()
            .filter(|r| r["Type"] == "AWS::IAM::Role")
            .collect();
        assert_eq!(roles.len(), 1, "one role");
        roles[0]
    }

    /// The statements of the role, by Sid, each with the condition it depends on.
    fn statements(t: &Value) -> BTreeMap<String, (Value, Option<String>)> {
        let policies = role(t)["Properties"]["Policies"]
            .as_array()
            .expect("policies");
        let mut out = BTreeMap::new();
        for policy in policies {
            for s in policy["PolicyDocument"]["Statement"]
                .as_array()
                .expect("statements")
            {
                let (statement, condition) = match s.get("Fn::If") {
                    Some(args) => {
                        assert_eq!(args[2], no_value(), "conditional statements have no else");
                        (
                            args[1].clone(),
                            Some(args[0].as_str().expect("name").to_owned()),
                        )
                    }
                    None => (s.clone(), None),
                };
                assert_eq!(statement["Effect"], "Allow");
                let sid = statement["Sid"]
                    .as_str()
                    .expect("every statement has a Sid");
                let previous = out.insert(sid.to_owned(), (statement.clone(), condition));
                assert!(previous.is_none(), "duplicate Sid {sid}");
            }
        }
        out
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn statements_have_exact_actions_and_conditions() {
        for (f, t) in all_templates() {
            let st = statements(&t);
            let mut expected: BTreeMap<&str, (BTreeSet<String>, Option<&str>)> = BTreeMap::from([
                (
                    "Logs",
                    (
                        set(&[
                            "logs:CreateLogGroup",
                            "logs:CreateLogStream",
                            "logs:PutLogEvents",
                        ]),
                        None,
                    ),
                ),
                (
                    "RotatedSecrets",
                    (
                        set(&[
                            "secretsmanager:DescribeSecret",
                            "secretsmanager:GetSecretValue",
                            "secretsmanager:PutSecretValue",
                            "secretsmanager:UpdateSecretVersionStage",
                            "secretsmanager:ListSecretVersionIds",
                        ]),
                        None,
                    ),
                ),
                (
                    "RandomPassword",
                    (set(&["secretsmanager:GetRandomPassword"]), None),
                ),
                (
                    "RotatedSecretsKey",
                    (
                        set(&["kms:Decrypt", "kms:GenerateDataKey"]),
                        Some(cond::KMS_KEY),
                    ),
                ),
                (
                    "VpcNetworkInterfaces",
                    (
                        set(&[
                            "ec2:CreateNetworkInterface",
                            "ec2:DescribeNetworkInterfaces",
                            "ec2:DeleteNetworkInterface",
                            "ec2:AssignPrivateIpAddresses",
                            "ec2:UnassignPrivateIpAddresses",
                        ]),
                        Some(cond::VPC),
                    ),
                ),
                (
                    "XRayTraces",
                    (
                        set(&["xray:PutTraceSegments", "xray:PutTelemetryRecords"]),
                        Some(cond::ACTIVE_TRACING),
                    ),
                ),
            ]);
            let master = set(&["secretsmanager:GetSecretValue"]);
            match f.admin {
                AdminUse::Never => {}
                AdminUse::Always => {
                    expected.insert("MasterSecret", (master, None));
                }
                AdminUse::WhenNamed => {
                    expected.insert("MasterSecret", (master, Some(cond::MASTER_SECRET)));
                }
            }
            if f.admin != AdminUse::Never {
                expected.insert(
                    "MasterSecretKey",
                    (set(&["kms:Decrypt"]), Some(cond::MASTER_SECRET_KMS_KEY)),
                );
            }
            let got: BTreeMap<&str, (BTreeSet<String>, Option<&str>)> = st
                .iter()
                .map(|(sid, (s, c))| (sid.as_str(), (strings(&s["Action"]), c.as_deref())))
                .collect();
            assert_eq!(got, expected, "{}", f.name);

            // Each conditional statement depends on the parameter it uses.
            for (sid, param) in [
                ("RotatedSecretsKey", "kmsKeyArn"),
                ("MasterSecretKey", "masterSecretKmsKeyArn"),
            ] {
                if let Some((s, Some(c))) = st.get(sid) {
                    assert_eq!(s["Resource"], r(param), "{} {sid}", f.name);
                    assert_eq!(t["Conditions"][c], not_empty(r(param)), "{} {sid}", f.name);
                    assert_eq!(s["Condition"], via_secrets_manager());
                }
            }
            if let Some((s, _)) = st.get("MasterSecret") {
                assert_eq!(s["Resource"], r("masterSecretArn"), "{}", f.name);
            }
        }
    }

    #[test]
    fn rotated_secrets_are_limited_to_this_function() {
        for (f, t) in all_templates() {
            let (s, _) = &statements(&t)["RotatedSecrets"];
            assert_eq!(
                s["Resource"],
                sub(
                    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"
                )
            );
            let condition = s["Condition"].as_object().expect("condition");
            assert_eq!(condition.len(), 1, "{}", f.name);
            let equals = condition["StringEquals"].as_object().expect("StringEquals");
            assert_eq!(equals.len(), 1);
            let arn = &equals["secretsmanager:resource/AllowRotationLambdaArn"];
            assert_eq!(arn, &sub(FUNCTION_ARN));
            // The ARN the condition names is the one the function gets.
            assert_eq!(
                resource(&t, &f.logical_id())["Properties"]["FunctionName"],
                r("functionName")
            );
        }
    }

    #[test]
    fn no_write_action_on_every_resource() {
        let needs_star = set(&[
            "secretsmanager:GetRandomPassword",
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
        ]);
        for (f, t) in all_templates() {
            for (sid, (s, _)) in statements(&t) {
                let actions = strings(&s["Action"]);
                assert!(
                    actions.iter().all(|a| !a.contains('*')),
                    "{} {sid}: wildcard action",
                    f.name
                );
                let resources: Vec<&Value> = match &s["Resource"] {
                    Value::Array(items) => items.iter().collect(),
                    one => vec![one],
                };
                let on_star = resources.iter().any(|r| r.as_str() == Some("*"));
                if on_star {
                    assert!(
                        actions.is_subset(&needs_star),
                        "{} {sid}: {actions:?} on *",
                        f.name
                    );
                }
                let writes = actions.iter().any(|a| {
                    a.starts_with("kms:")
                        || a.starts_with("ec2:Create")
                        || a.starts_with("ec2:Delete")
                        || a == "secretsmanager:PutSecretValue"
                        || a == "secretsmanager:UpdateSecretVersionStage"
                });
                if writes && on_star {
                    assert_eq!(sid, "VpcNetworkInterfaces", "{}", f.name);
                }
            }
        }
    }

    #[test]
    fn master_secret_only_where_the_strategy_needs_it() {
        for (f, t) in all_templates() {
            let params = t["Parameters"].as_object().expect("parameters");
            let st = statements(&t);
            match (f.strategy, f.engine) {
                (Strategy::AlternatingUsers, _) => {
                    assert!(
                        params["masterSecretArn"].get("Default").is_none(),
                        "{}",
                        f.name
                    );
                    assert_eq!(st["MasterSecret"].1, None);
                }
                (Strategy::SingleUser, Engine::Redis) => {
                    assert_eq!(params["masterSecretArn"]["Default"], "");
                    assert_eq!(st["MasterSecret"].1.as_deref(), Some(cond::MASTER_SECRET));
                }
                (Strategy::SingleUser, _) => {
                    assert!(!params.contains_key("masterSecretArn"), "{}", f.name);
                    assert!(!params.contains_key("masterSecretKmsKeyArn"), "{}", f.name);
                    assert!(!st.contains_key("MasterSecret"));
                    assert!(!st.contains_key("MasterSecretKey"));
                }
            }
        }
    }

    #[test]
    fn invoke_permission_names_the_account() {
        for (f, t) in all_templates() {
            let p = &resource(&t, PERMISSION_ID)["Properties"];
            assert_eq!(p["SourceAccount"], r("AWS::AccountId"), "{}", f.name);
            assert_eq!(p["Principal"], r("invokingServicePrincipal"));
            assert_eq!(p["Action"], "lambda:InvokeFunction");
            assert_eq!(
                p["FunctionName"],
                json!({ "Fn::GetAtt": [f.logical_id(), "Arn"] })
            );
            assert_eq!(
                t["Parameters"]["invokingServicePrincipal"]["Default"],
                "secretsmanager.amazonaws.com"
            );
        }
    }

    #[test]
    fn role_and_function_shape() {
        for (f, t) in all_templates() {
            let role = &resource(&t, &f.role_id())["Properties"];
            assert_eq!(
                role["PermissionsBoundary"],
                json!({ "Fn::If": [cond::PERMISSIONS_BOUNDARY, r("permissionsBoundary"), no_value()] })
            );
            assert!(role.get("ManagedPolicyArns").is_none());
            let fun = &resource(&t, &f.logical_id())["Properties"];
            assert_eq!(fun["Runtime"], "provided.al2023");
            assert_eq!(fun["Handler"], "bootstrap");
            assert_eq!(fun["Architectures"], json!([r("architecture")]));
            assert_eq!(fun["Role"], json!({ "Fn::GetAtt": [f.role_id(), "Arn"] }));
            assert!(fun.get("Policies").is_none(), "no SAM policy templates");
            assert_eq!(fun["VpcConfig"]["Fn::If"][0], cond::VPC);
            assert_eq!(
                t["Outputs"]["RotationLambdaARN"]["Value"],
                json!({ "Fn::GetAtt": [f.logical_id(), "Arn"] })
            );
            let meta = &t["Metadata"]["AWS::ServerlessRepo::Application"];
            assert_eq!(meta["SemanticVersion"], VERSION);
            assert_eq!(meta["SpdxLicenseId"], "Apache-2.0");
            assert_eq!(meta["SourceCodeUrl"], REPOSITORY_URL);
            // Limits of the Serverless Application Repository.
            let name = meta["Name"].as_str().expect("name");
            assert!(
                name.len() <= 140 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            );
            assert!(meta["Description"].as_str().expect("description").len() <= 256);
            let labels = meta["Labels"].as_array().expect("labels");
            assert!(labels.len() <= 10);
            for label in labels.iter().map(|l| l.as_str().expect("label")) {
                assert!(label.len() <= 127);
                assert!(
                    label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-_:/@".contains(c))
                );
            }
        }
    }

    #[test]
    fn parameters_and_environment() {
        let common = [
            "endpoint",
            "functionName",
            "invokingServicePrincipal",
            "vpcSubnetIds",
            "vpcSecurityGroupIds",
            "kmsKeyArn",
            "excludeCharacters",
            "architecture",
            "permissionsBoundary",
            "passwordLength",
            "tlsMode",
            "trustRdsCa",
            "caBundlePath",
            "layerArns",
            "logLevel",
            "logFormat",
            "tracing",
            "runtime",
            "timeout",
            "memorySize",
        ];
        for (f, t) in all_templates() {
            let mut expected = set(&common);
            let mut env = set(&[
                "SECRETS_MANAGER_ENDPOINT",
                "EXCLUDE_CHARACTERS",
                "PASSWORD_LENGTH",
                "TLS_MODE",
                "TRUST_RDS_CA",
                "CA_BUNDLE",
                "LOG_LEVEL",
            ]);
            if f.admin != AdminUse::Never {
                expected.extend(set(&["masterSecretArn", "masterSecretKmsKeyArn"]));
            }
            if f.engine == Engine::Redis || f.name == "mysql-single-user" {
                expected.insert("previousPassword".into());
                env.insert("PREVIOUS_PASSWORD".into());
            }
            if f.name == "mysql-alternating-users" {
                expected.insert("usernameCharacterLimit".into());
                env.insert("USERNAME_CHARACTER_LIMIT".into());
            }
            let params = t["Parameters"].as_object().expect("parameters");
            assert_eq!(
                params.keys().cloned().collect::<BTreeSet<_>>(),
                expected,
                "{}",
                f.name
            );
            let vars = resource(&t, &f.logical_id())["Properties"]["Environment"]["Variables"]
                .as_object()
                .expect("variables");
            assert_eq!(
                vars.keys().cloned().collect::<BTreeSet<_>>(),
                env,
                "{}",
                f.name
            );
            assert_eq!(
                vars["SECRETS_MANAGER_ENDPOINT"]["Fn::If"][0],
                cond::ENDPOINT
            );
            if let Some(limit) = vars.get("USERNAME_CHARACTER_LIMIT") {
                assert_eq!(limit["Fn::If"][0], cond::USERNAME_LIMIT);
            }
            let exclude = &params["excludeCharacters"]["Default"];
            match f.engine {
                Engine::Postgres => assert_eq!(exclude, ":/@\"'\\"),
                Engine::MySql | Engine::Redis => assert_eq!(exclude, "/@\"'\\"),
            }
            assert_eq!(params["architecture"]["Type"], "String");
            assert_eq!(params["tlsMode"]["Default"], "prefer");
            assert_eq!(params["logLevel"]["Default"], "");
            assert_eq!(params["passwordLength"]["Default"], 32);
            assert_eq!(params["timeout"]["Default"], 30);
            assert_eq!(params["memorySize"]["Default"], 128);
        }
    }

    #[test]
    fn private_cas_through_layers_and_ca_bundle_path() {
        for (f, t) in all_templates() {
            let params = &t["Parameters"];
            assert_eq!(params["layerArns"]["Type"], "CommaDelimitedList");
            assert_eq!(params["layerArns"]["Default"], "");
            assert_eq!(params["caBundlePath"]["Type"], "String");
            assert_eq!(params["caBundlePath"]["Default"], "");
            assert_eq!(params["trustRdsCa"]["Default"], "true");
            assert_eq!(
                params["trustRdsCa"]["AllowedValues"],
                json!(["true", "false"])
            );
            // Empty parameters leave no trace: no Layers property, no CA_BUNDLE variable.
            let fun = &resource(&t, &f.logical_id())["Properties"];
            assert_eq!(
                fun["Layers"],
                when(cond::LAYERS, r("layerArns")),
                "{}",
                f.name
            );
            assert_eq!(
                t["Conditions"][cond::LAYERS],
                not_empty(json!({ "Fn::Join": ["", r("layerArns")] }))
            );
            let vars = &fun["Environment"]["Variables"];
            assert_eq!(vars["CA_BUNDLE"], when(cond::CA_BUNDLE, r("caBundlePath")));
            assert_eq!(
                t["Conditions"][cond::CA_BUNDLE],
                not_empty(r("caBundlePath"))
            );
            assert_eq!(vars["TRUST_RDS_CA"], r("trustRdsCa"));
            assert_eq!(params["caBundlePath"]["AllowedPattern"], "(/.+)?");
            let description = params["caBundlePath"]["Description"]
                .as_str()
                .expect("text");
            assert!(description.contains("/opt/ca-bundle.pem"));
        }
    }

    #[test]
    fn source_template_allows_both_architectures() {
        for f in FUNCTIONS {
            let t = template(f, &Artifacts::source(f));
            let arch = &t["Parameters"]["architecture"];
            assert_eq!(arch["AllowedValues"], json!(["arm64", "x86_64"]));
            assert_eq!(arch["Default"], "arm64");
            let code = &resource(&t, &f.logical_id())["Properties"]["CodeUri"];
            assert_eq!(
                code,
                &json!(format!("../../target/dist/{}-arm64.zip", f.name))
            );
        }
    }

    /// Every `Ref` names a parameter, a resource or a pseudo parameter, and every condition
    /// used is defined and every condition defined is used.
    #[test]
    fn references_resolve() {
        fn walk(v: &Value, refs: &mut BTreeSet<String>, conds: &mut BTreeSet<String>) {
            match v {
                Value::Object(map) => {
                    if let Some(Value::String(name)) = map.get("Ref") {
                        refs.insert(name.clone());
                    }
                    if let Some(Value::Array(args)) = map.get("Fn::If")
                        && let Some(Value::String(name)) = args.first()
                    {
                        conds.insert(name.clone());
                    }
                    if let Some(Value::String(s)) = map.get("Fn::Sub") {
                        for part in s.split("${").skip(1) {
                            let name = part.split('}').next().unwrap_or_default();
                            refs.insert(name.split('.').next().unwrap_or_default().to_owned());
                        }
                    }
                    map.values().for_each(|v| walk(v, refs, conds));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, refs, conds)),
                _ => {}
            }
        }
        for (f, t) in all_templates() {
            let (mut refs, mut conds) = (BTreeSet::new(), BTreeSet::new());
            walk(&t, &mut refs, &mut conds);
            let mut known: BTreeSet<String> = t["Parameters"]
                .as_object()
                .expect("p")
                .keys()
                .cloned()
                .collect();
            known.extend(t["Resources"].as_object().expect("r").keys().cloned());
            for r in refs {
                assert!(
                    r.starts_with("AWS::") || known.contains(&r),
                    "{}: {r}",
                    f.name
                );
            }
            let defined: BTreeSet<String> = t["Conditions"]
                .as_object()
                .expect("c")
                .keys()
                .cloned()
                .collect();
            assert_eq!(conds, defined, "{}", f.name);
        }
    }

    /// The parameters of AWS's Serverless Application Repository rotation applications, per
    /// application. From public copies of the published template of
    /// SecretsManagerRDSPostgreSQLRotationSingleUser (version 1.1.384), the Secrets Manager
    /// User Guide's steps for deploying a rotation application (which add masterSecretArn and
    /// masterSecretKmsKeyArn for alternating users), and the parameters that CDK's SecretRotation construct
    /// (aws-cdk-lib/aws-secretsmanager) passes to these applications. The MySQL and MariaDB
    /// applications take the same parameters as the PostgreSQL one of the same strategy.
    fn aws_application_parameters(app: &str) -> Vec<&'static str> {
        let single_user = vec![
            "endpoint",
            "functionName",
            "invokingServicePrincipal",
            "vpcSubnetIds",
            "vpcSecurityGroupIds",
            "kmsKeyArn",
            "excludeCharacters",
            "runtime",
        ];
        let mut multi_user = single_user.clone();
        multi_user.extend(["masterSecretArn", "masterSecretKmsKeyArn"]);
        match app {
            "SecretsManagerRDSMySQLRotationSingleUser"
            | "SecretsManagerRDSMariaDBRotationSingleUser"
            | "SecretsManagerRDSPostgreSQLRotationSingleUser" => single_user,
            "SecretsManagerRDSMySQLRotationMultiUser"
            | "SecretsManagerRDSMariaDBRotationMultiUser"
            | "SecretsManagerRDSPostgreSQLRotationMultiUser" => multi_user,
            other => panic!("no parameter list for {other}"),
        }
    }

    /// The AWS applications each function replaces (as deploy/README.md lists them).
    fn replaces(f: Function) -> &'static [&'static str] {
        match (f.engine, f.strategy) {
            (Engine::MySql, Strategy::SingleUser) => &[
                "SecretsManagerRDSMySQLRotationSingleUser",
                "SecretsManagerRDSMariaDBRotationSingleUser",
            ],
            (Engine::MySql, Strategy::AlternatingUsers) => &[
                "SecretsManagerRDSMySQLRotationMultiUser",
                "SecretsManagerRDSMariaDBRotationMultiUser",
            ],
            (Engine::Postgres, Strategy::SingleUser) => {
                &["SecretsManagerRDSPostgreSQLRotationSingleUser"]
            }
            (Engine::Postgres, Strategy::AlternatingUsers) => {
                &["SecretsManagerRDSPostgreSQLRotationMultiUser"]
            }
            (Engine::Redis, _) => &[],
        }
    }

    #[test]
    fn every_parameter_of_aws_applications_is_declared() {
        for (f, t) in all_templates() {
            let params = t["Parameters"].as_object().expect("parameters");
            for app in replaces(f) {
                for name in aws_application_parameters(app) {
                    assert!(params.contains_key(name), "{}: {name} of {app}", f.name);
                }
            }
            // Redis has no AWS application, but takes the same common parameters so that one
            // parent stack can deploy any of the six.
            for name in aws_application_parameters("SecretsManagerRDSMySQLRotationSingleUser") {
                assert!(params.contains_key(name), "{}: {name}", f.name);
            }
            let runtime = &params["runtime"];
            assert_eq!(runtime["Type"], "String");
            assert!(
                runtime.get("AllowedValues").is_none(),
                "any value is accepted"
            );
            assert!(
                runtime["Description"]
                    .as_str()
                    .expect("text")
                    .starts_with("Ignored")
            );
            let fun = &resource(&t, &f.logical_id())["Properties"];
            assert_eq!(fun["Runtime"], "provided.al2023", "{}", f.name);
        }
    }

    #[test]
    fn logical_ids_are_those_of_aws_applications() {
        for (f, t) in all_templates() {
            for app in replaces(f) {
                // MariaDB's applications name the function after MariaDB; ours is the MySQL one.
                if !app.contains("MariaDB") {
                    assert_eq!(&f.logical_id(), app);
                }
            }
            let resources = t["Resources"].as_object().expect("resources");
            let ids: BTreeSet<String> = resources.keys().cloned().collect();
            let function_id = f.logical_id();
            assert_eq!(
                ids,
                set(&[
                    function_id.as_str(),
                    format!("{function_id}Role").as_str(),
                    "LambdaPermission"
                ]),
                "{}",
                f.name
            );
            assert_eq!(resources[&function_id]["Type"], "AWS::Serverless::Function");
            assert_eq!(resources[&f.role_id()]["Type"], "AWS::IAM::Role");
            assert_eq!(resources[PERMISSION_ID]["Type"], "AWS::Lambda::Permission");
            // A fixed RoleName would force a replacement of AWS's SAM-generated role.
            assert!(
                resources[&f.role_id()]["Properties"]
                    .get("RoleName")
                    .is_none()
            );
        }
    }

    #[test]
    fn function_and_role_carry_the_rotation_tag() {
        for (f, t) in all_templates() {
            let fun = &resource(&t, &f.logical_id())["Properties"];
            assert_eq!(
                fun["Tags"],
                json!({ "SecretsManagerLambda": "Rotation" }),
                "{}",
                f.name
            );
            let role = &resource(&t, &f.role_id())["Properties"];
            assert_eq!(
                role["Tags"],
                json!([{ "Key": "SecretsManagerLambda", "Value": "Rotation" }])
            );
        }
    }

    #[test]
    fn outputs_name_the_function_and_its_role() {
        for (f, t) in all_templates() {
            let outputs = t["Outputs"].as_object().expect("outputs");
            assert_eq!(
                outputs.keys().cloned().collect::<BTreeSet<_>>(),
                set(&["RotationLambdaARN", "RotationLambdaRoleARN"])
            );
            assert_eq!(
                outputs["RotationLambdaARN"]["Value"],
                json!({ "Fn::GetAtt": [f.logical_id(), "Arn"] })
            );
            assert_eq!(
                outputs["RotationLambdaRoleARN"]["Value"],
                json!({ "Fn::GetAtt": [f.role_id(), "Arn"] }),
                "{}",
                f.name
            );
        }
    }

    #[test]
    fn logging_controls_follow_lambda() {
        for (f, t) in all_templates() {
            let params = &t["Parameters"];
            assert_eq!(params["logLevel"]["Default"], "");
            assert_eq!(
                params["logLevel"]["AllowedValues"],
                json!(["", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"])
            );
            assert_eq!(params["logFormat"]["Default"], "JSON");
            assert_eq!(
                params["logFormat"]["AllowedValues"],
                json!(["JSON", "Text"])
            );
            let fun = &resource(&t, &f.logical_id())["Properties"];
            // ApplicationLogLevel only with JSON (Lambda refuses it with Text), and only when
            // asked for; LOG_LEVEL only with Text, and only when asked for.
            assert_eq!(
                fun["LoggingConfig"],
                json!({
                    "LogFormat": r("logFormat"),
                    "ApplicationLogLevel": when(cond::APPLICATION_LOG_LEVEL, r("logLevel")),
                }),
                "{}",
                f.name
            );
            assert_eq!(
                fun["Environment"]["Variables"]["LOG_LEVEL"],
                when(cond::LOG_LEVEL_VARIABLE, r("logLevel"))
            );
            for (name, format) in [
                (cond::APPLICATION_LOG_LEVEL, "JSON"),
                (cond::LOG_LEVEL_VARIABLE, "Text"),
            ] {
                assert_eq!(
                    t["Conditions"][name],
                    json!({ "Fn::And": [
                        not_empty(r("logLevel")),
                        { "Fn::Equals": [r("logFormat"), format] },
                    ] })
                );
            }
        }
    }

    #[test]
    fn tracing_mode_and_its_permission() {
        for (f, t) in all_templates() {
            let tracing = &t["Parameters"]["tracing"];
            assert_eq!(tracing["Default"], "PassThrough");
            assert_eq!(tracing["AllowedValues"], json!(["PassThrough", "Active"]));
            let fun = &resource(&t, &f.logical_id())["Properties"];
            assert_eq!(fun["Tracing"], r("tracing"), "{}", f.name);
            assert_eq!(
                t["Conditions"][cond::ACTIVE_TRACING],
                json!({ "Fn::Equals": [r("tracing"), "Active"] })
            );
            let (s, c) = &statements(&t)["XRayTraces"];
            assert_eq!(c.as_deref(), Some(cond::ACTIVE_TRACING));
            assert_eq!(s["Resource"], "*");
        }
    }
}
