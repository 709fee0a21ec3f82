import { FormData } from "./unsupported";

export default FormData;
