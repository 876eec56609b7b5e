import { ArnFormat, Duration, Stack, StackProps } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as sam from "aws-cdk-lib/aws-sam";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";

/** Where the rotation function comes from. */
export type FunctionSource =
  | {
      kind: "zip";
      /** A `target/dist/<function>-<arch>.zip` built by `cargo xtask dist`. */
      zipPath: string;
      architecture: lambda.Architecture;
    }
  | {
      kind: "sar";
      /** The Serverless Application Repository application that `sam publish` created. */
      applicationId: string;
      semanticVersion: string;
    };

export interface RotationStackProps extends StackProps {
  source: FunctionSource;
  /** Name of the function. Fixed, so that the role can name the function's ARN (below). */
  functionName: string;
  /** The connection fields of the secret; the password is generated. */
  engine: string;
  host: string;
  port: number;
  username: string;
}

/**
 * The characters generated passwords must not contain: the functions' default for MySQL and
 * Redis. For PostgreSQL, also exclude `:`.
 */
const EXCLUDE_CHARACTERS = "/@\"'\\";

export class RotationStack extends Stack {
  constructor(scope: Construct, id: string, props: RotationStackProps) {
    super(scope, id, props);

    const secret = new secretsmanager.Secret(this, "DatabaseSecret", {
      description: `${props.username} on ${props.host}, rotated by ${props.functionName}`,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({
          engine: props.engine,
          host: props.host,
          port: props.port,
          username: props.username,
        }),
        generateStringKey: "password",
        passwordLength: 32,
        // The same set as the function's, so every password in the secret's history follows
        // one policy.
        excludeCharacters: EXCLUDE_CHARACTERS,
      },
    });

    if (props.source.kind === "zip") {
      const fn = this.functionFromZip(props, props.source, secret);
      const schedule = secret.addRotationSchedule("Rotation", {
        // A reference, not `fn` itself: handed a function of this stack, addRotationSchedule
        // adds grants of its own (another invoke permission and a default policy) next to
        // those of functionFromZip. With a reference, the function's permissions are all in
        // one place and match the SAM templates'.
        rotationLambda: lambda.Function.fromFunctionArn(
          this,
          "RotationFunctionRef",
          fn.functionArn,
        ),
        automaticallyAfter: Duration.days(30),
      });
      // Secrets Manager invokes the function as soon as rotation is configured, so the
      // invoke permission must exist by then (the role comes with the function).
      schedule.node.addDependency(fn.permissionsNode.findChild("SecretsManagerInvoke"));
    } else {
      const app = new sam.CfnApplication(this, "RotationApplication", {
        location: {
          applicationId: props.source.applicationId,
          semanticVersion: props.source.semanticVersion,
        },
        // The application's own template creates the role, the policy and the invoke
        // permission, with the same parameters as AWS's rotation applications.
        parameters: {
          functionName: props.functionName,
          excludeCharacters: EXCLUDE_CHARACTERS,
        },
      });
      secret.addRotationSchedule("Rotation", {
        rotationLambda: lambda.Function.fromFunctionArn(
          this,
          "RotationFunctionRef",
          app.getAtt("Outputs.RotationLambdaARN").toString(),
        ),
        automaticallyAfter: Duration.days(30),
      });
    }
  }

  /** The function, its role and the permission that lets Secrets Manager invoke it. */
  private functionFromZip(
    props: RotationStackProps,
    source: Extract<FunctionSource, { kind: "zip" }>,
    secret: secretsmanager.ISecret,
  ): lambda.Function {
    // Built from the name rather than taken from the function: the function depends on its
    // role, so the role cannot depend on the function.
    const functionArn = this.formatArn({
      service: "lambda",
      resource: "function",
      resourceName: props.functionName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const logGroupArn = this.formatArn({
      service: "logs",
      resource: "log-group",
      resourceName: `/aws/lambda/${props.functionName}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    const role = new iam.Role(this, "RotationFunctionRole", {
      description: `Execution role of the ${props.functionName} rotation function`,
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      inlinePolicies: {
        rotation: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: "Logs",
              actions: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
              resources: [logGroupArn, `${logGroupArn}:*`],
            }),
            // To rotate more secrets with this function, add their ARNs, or use
            // `secret:*`: the condition alone keeps out secrets rotated by other functions.
            new iam.PolicyStatement({
              sid: "RotatedSecrets",
              actions: [
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
                "secretsmanager:UpdateSecretVersionStage",
                "secretsmanager:ListSecretVersionIds",
              ],
              resources: [secret.secretArn],
              conditions: {
                StringEquals: { "secretsmanager:resource/AllowRotationLambdaArn": functionArn },
              },
            }),
            // GetRandomPassword acts on no resource.
            new iam.PolicyStatement({
              sid: "RandomPassword",
              actions: ["secretsmanager:GetRandomPassword"],
              resources: ["*"],
            }),
          ],
        }),
      },
    });

    const fn = new lambda.Function(this, "RotationFunction", {
      functionName: props.functionName,
      description: "Secrets Manager rotation function (Rust, provided.al2023)",
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: source.architecture,
      handler: "bootstrap",
      code: lambda.Code.fromAsset(source.zipPath),
      role,
      memorySize: 128,
      timeout: Duration.seconds(30),
      environment: {
        EXCLUDE_CHARACTERS,
        PASSWORD_LENGTH: "32",
        TLS_MODE: "prefer",
        TRUST_RDS_CA: "true",
        LOG_LEVEL: "info",
        // SECRETS_MANAGER_ENDPOINT: a VPC endpoint's URL, when the function runs in a VPC
        // without private DNS for Secrets Manager.
      },
    });
    // SourceAccount: the service may invoke the function only for secrets of this account.
    fn.addPermission("SecretsManagerInvoke", {
      principal: new iam.ServicePrincipal("secretsmanager.amazonaws.com"),
      action: "lambda:InvokeFunction",
      sourceAccount: this.account,
    });
    return fn;
  }
}
